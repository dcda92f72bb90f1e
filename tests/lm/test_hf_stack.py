"""ReweightingTrainer in a real stack: torch.compile with the chunked loss, predictions with
the stock Trainer's shapes and values, label smoothing equal to the stock Trainer's, the
optimizer-step token weighting equal to one big batch, packed rows from
DataCollatorWithFlattening, and the logged numbers read back by a reporting callback."""

import pytest
import torch

from rwtheory.lm import SampleReweighter, per_sample_loss

transformers = pytest.importorskip("transformers")

from rwtheory.lm import ReweightingTrainer  # noqa: E402
from rwtheory.lm.losses import CHUNKED_MIN_VOCAB  # noqa: E402

SEQ = 8


def _model(vocab, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(
        vocab_size=vocab,
        n_positions=SEQ,
        n_embd=8,
        n_layer=1,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return transformers.GPT2LMHeadModel(cfg)


class _Data(torch.utils.data.Dataset):
    def __init__(self, vocab, n=8, seed=1):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, vocab, (n, SEQ), generator=g)
        self.labels = self.x.clone()
        for i in range(n):
            self.labels[i, 3 + i % 5 :] = -100  # unequal scored tokens

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.labels[i]}


class _Sequential(ReweightingTrainer):
    def _get_train_sampler(self, train_dataset=None):
        return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)


class _Grads(transformers.TrainerCallback):
    def __init__(self):
        self.grads = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.grads.append([p.grad.detach().clone() for p in model.parameters()])


class _Backend(transformers.TrainerCallback):
    """A reporting backend as transformers' integrations are: it receives every log."""

    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs))


def _args(tmp_path, **kw):
    base = {
        "output_dir": str(tmp_path),
        "per_device_train_batch_size": 4,
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
        "logging_steps": 1,
        "disable_tqdm": True,
        "seed": 0,
        "learning_rate": 1e-2,
        "max_grad_norm": 0.0,
    }
    return transformers.TrainingArguments(**{**base, **kw})


def _worst(a, b):
    return max(float((p - q).abs().max()) for p, q in zip(a, b, strict=True))


@pytest.mark.slow
def test_torch_compile_with_the_chunked_loss_trains_and_equals_eager(tmp_path):
    vocab = CHUNKED_MIN_VOCAB
    params = {}
    for compiled in (False, True):
        extra = {"torch_compile": True, "torch_compile_backend": "aot_eager"} if compiled else {}
        trainer = _Sequential(
            model=_model(vocab),
            args=_args(tmp_path, max_steps=3, **extra),
            train_dataset=_Data(vocab),
            reweighter=SampleReweighter("linupper", 0.4),
        )
        assert trainer.chunked
        trainer.train()
        params[compiled] = [p.detach().clone() for p in trainer.model.parameters()]
        params[(compiled, "loss")] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert _worst(params[False], params[True]) <= 1e-6
    assert params[(False, "loss")] == pytest.approx(params[(True, "loss")], rel=1e-6)


def test_predictions_in_chunked_mode_have_the_stock_shapes_and_values(tmp_path):
    vocab = CHUNKED_MIN_VOCAB
    data = _Data(vocab, n=4)
    ours = ReweightingTrainer(
        model=_model(vocab), args=_args(tmp_path), reweighter=SampleReweighter()
    )
    assert ours.chunked
    stock = transformers.Trainer(model=_model(vocab), args=_args(tmp_path))
    got, want = ours.predict(data), stock.predict(data)
    assert got.predictions.shape == want.predictions.shape == (4, SEQ, vocab)
    assert abs(got.predictions - want.predictions).max() <= 1e-6
    assert (got.label_ids == want.label_ids).all()
    # the loss: the model's own token mean (transformers' ForCausalLMLoss). The stock
    # Trainer's predict() reported sum / (labels != -100 before the shift) here instead
    # (7.53 against the model's 9.69 with transformers 5.25): not compared
    with torch.no_grad():
        own = _model(vocab)(input_ids=data.x, labels=data.labels).loss
    assert got.metrics["test_loss"] == pytest.approx(float(own), rel=1e-6)


@pytest.mark.parametrize("chunked", [False, True])
def test_label_smoothing_equals_the_stock_trainer(tmp_path, chunked):
    """Uniform weights with global token weighting: the stock Trainer's objective (token
    mean, LabelSmoother with shifted labels), so the same gradient."""
    vocab = 40
    grads = []
    for cls in (ReweightingTrainer, transformers.Trainer):
        kw = (
            {
                "reweighter": SampleReweighter("uniform", 1.0, token_weighting="global"),
                "chunked": chunked,
            }
            if cls is ReweightingTrainer
            else {}
        )
        trainer = cls(model=_model(vocab), args=_args(tmp_path, label_smoothing_factor=0.2), **kw)
        trainer.model.train()
        data = _Data(vocab)
        batch = {"input_ids": data.x[:4], "labels": data.labels[:4]}
        loss = trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=None)
        loss.backward()
        grads.append((float(loss), [p.grad.clone() for p in trainer.model.parameters()]))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    assert _worst(grads[0][1], grads[1][1]) <= 1e-6


@pytest.mark.parametrize("mode", ["global", "rank"])
def test_optimizer_step_token_weighting_equals_one_big_batch(tmp_path, mode):
    vocab, grads = 40, []
    for accumulation, batch in ((2, 4), (1, 8)):
        callback = _Grads()
        trainer = _Sequential(
            model=_model(vocab),
            args=_args(
                tmp_path,
                max_steps=1,
                per_device_train_batch_size=batch,
                gradient_accumulation_steps=accumulation,
            ),
            train_dataset=_Data(vocab),
            callbacks=[callback],
            reweighter=SampleReweighter(
                "linupper", 0.4, weights_over="optimizer_step", token_weighting=mode
            ),
        )
        trainer.train()
        grads.append(callback.grads[0])
    assert _worst(grads[0], grads[1]) <= 1e-6
    assert max(float(g.abs().max()) for g in grads[1]) > 1e-3


def test_logs_reach_the_log_history_and_a_reporting_backend(tmp_path):
    vocab, backend = 40, _Backend()
    trainer = _Sequential(
        model=_model(vocab),
        args=_args(tmp_path, max_steps=2),
        train_dataset=_Data(vocab),
        callbacks=[backend],
        reweighter=SampleReweighter("linupper", 0.4),
    )
    first = _model(vocab)  # the step-1 numbers by hand, from the initial model
    data = _Data(vocab)
    with torch.no_grad():
        losses, counts = per_sample_loss(
            first(input_ids=data.x[:4]).logits, data.labels[:4], return_counts=True
        )
    trainer.train()
    logs = [h for h in backend.logs if "rw_rho" in h]
    history = [h for h in trainer.state.log_history if "rw_rho" in h]
    assert [{k: v for k, v in h.items() if k != "step"} for h in history] == logs
    assert len(logs) == 2
    one = logs[0]
    token_mean = float((losses * counts).sum() / counts.sum())
    assert one["rw_token_loss_mean"] == pytest.approx(token_mean, rel=1e-5)
    assert one["rw_objective"] == pytest.approx(one["loss"], rel=1e-4)  # Trainer rounds to 4
    for key in ("rw_entropy", "rw_max_weight", "rw_skipped", "rw_hist_0.9_1.1"):
        assert key in one
    assert one["rw_token_loss_mean"] != pytest.approx(one["rw_objective"], rel=1e-6)


def test_packed_rows_from_data_collator_with_flattening_are_weighted_per_document(tmp_path):
    vocab = 40
    data = _Data(vocab, n=4)
    features = [{"input_ids": data.x[i][: 3 + i].tolist()} for i in range(4)]
    batch = transformers.DataCollatorWithFlattening()(features)  # one row, 4 documents
    trainer = ReweightingTrainer(
        model=_model(vocab),
        args=_args(tmp_path),
        reweighter=SampleReweighter("linupper", 0.4, token_weighting="global"),
        max_documents=6,
    )
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, dict(batch))
    s = trainer.reweighter.stats
    assert s.n == 4  # four documents, one row
    with torch.no_grad():
        logits = trainer.model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"]
        ).logits
    by_hand, counts = per_sample_loss(
        logits,
        batch["labels"],
        position_ids=batch["position_ids"],
        max_documents=6,
        return_counts=True,
    )
    assert counts.tolist() == [2, 3, 4, 5, 0, 0]  # each document's own next-token targets
    ref = SampleReweighter("linupper", 0.4, token_weighting="global")
    ref_loss, _ = ref(by_hand, counts=counts)
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-6)
    with pytest.raises(TypeError, match="packed must be None, True or False"):
        ReweightingTrainer(model=_model(vocab), args=_args(tmp_path), packed="yes")
