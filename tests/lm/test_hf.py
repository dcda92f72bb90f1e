"""The Hugging Face Trainer integration on a tiny randomly initialised GPT-2 (no downloads)."""

import subprocess
import sys

import pytest
import torch

import rwtheory as rw
from rwtheory.lm import SampleReweighter, per_sample_loss

transformers = pytest.importorskip("transformers")

from rwtheory.lm import ReweightingTrainer  # noqa: E402

VOCAB, SEQ = 40, 10


def _model():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=SEQ,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )  # no dropout: comparable
    return transformers.GPT2LMHeadModel(cfg)


class _Data(torch.utils.data.Dataset):
    def __init__(self, n=16):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randint(0, VOCAB, (n, SEQ), generator=g)
        self.labels = self.x.clone()
        self.labels[1::4, 6:] = -100  # padded rows

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.labels[i]}


def _trainer(tmp_path, reweighter, **kw):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        **kw,
    )
    return ReweightingTrainer(
        model=_model(), args=args, train_dataset=_Data(), reweighter=reweighter
    )


def _batch(n=4):
    d = _Data()
    return {"input_ids": d.x[:n], "labels": d.labels[:n]}


def test_compute_loss_is_the_reweighted_loss_and_gradient(tmp_path):
    trainer = _trainer(tmp_path, SampleReweighter("linupper", 0.4), max_steps=1)
    model = trainer.model
    model.train()
    batch = _batch()
    loss = trainer.compute_loss(model, dict(batch))
    # by hand: per-sample losses of the logits, weights from the foundation pipeline
    ref_model = _model()
    losses = per_sample_loss(ref_model(input_ids=batch["input_ids"]).logits, batch["labels"])
    w = rw.sample_weights(losses.detach().float(), "linupper", 0.4)
    ref = (w * losses).sum()
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-6)
    loss.backward()
    ref.backward()
    worst = max(
        float((p.grad - q.grad).abs().max())
        for p, q in zip(model.parameters(), ref_model.parameters(), strict=True)
    )
    assert worst <= 1e-6
    assert trainer.reweighter.stats.rho == pytest.approx(4 * float(w.max()), rel=1e-6)


def test_eval_loss_is_huggingface_token_mean(tmp_path):
    trainer = _trainer(tmp_path, SampleReweighter("extremes", 0.4), max_steps=1)
    model = trainer.model
    model.eval()
    batch = _batch(8)
    with torch.no_grad():
        ours = trainer.compute_loss(model, dict(batch))
        theirs = model(**batch).loss  # transformers' own ForCausalLMLoss
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6)


def test_training_runs_with_schedule_and_gradient_accumulation(tmp_path):
    reweighter = SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=2))
    trainer = _trainer(
        tmp_path, reweighter, max_steps=3, gradient_accumulation_steps=2, learning_rate=1e-2
    )
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train()
    after = list(trainer.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    logs = [h for h in trainer.state.log_history if "rw_rho" in h]
    assert [h["step"] for h in logs] == [1, 2, 3]
    # the temperature follows the optimizer step: r = 100 for steps 0, 1, then 0.4
    assert [h["rw_temperature"] for h in logs] == [100.0, 100.0, 0.4]
    assert all(1 <= h["rw_rho"] <= 4 and h["rw_entropy"] > 0 for h in logs)
    # 3 optimizer steps x 2 micro-batches
    assert reweighter.step == 3
    # the micro-batch loss is divided by the accumulation steps
    trainer.model.train()
    batch = trainer._prepare_inputs(_batch())
    full = float(trainer.compute_loss(trainer.model, dict(batch)).detach())
    trainer.current_gradient_accumulation_steps = 2
    step_loss = float(trainer.training_step(trainer.model, dict(batch)))
    assert step_loss == pytest.approx(full / 2, rel=1e-6)


def test_labels_are_required(tmp_path):
    trainer = _trainer(tmp_path, None, max_steps=1)
    assert trainer.reweighter.strategy == "linupper"
    with pytest.raises(ValueError, match="inputs must contain 'labels'"):
        trainer.compute_loss(trainer.model, {"input_ids": _batch()["input_ids"]})
    with pytest.raises(TypeError, match="reweighter must be a SampleReweighter"):
        ReweightingTrainer(model=_model(), args=trainer.args, reweighter="linupper")


def test_rwtheory_lm_imports_without_transformers():
    code = (
        "import sys; sys.modules['transformers'] = None\n"
        "import rwtheory.lm as lm\n"
        "assert callable(lm.per_sample_loss)\n"
        "try:\n    lm.ReweightingTrainer\nexcept ImportError:\n    print('lazy-ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "lazy-ok"


# ----------------------------------------------------------------- chunked loss, accumulation
class _Sequential(ReweightingTrainer):
    """Micro-batches in dataset order (to rebuild the step's batch by hand)."""

    def _get_train_sampler(self, train_dataset=None):
        return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)


class _Grads(transformers.TrainerCallback):
    def __init__(self):
        self.grads = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.grads.append([p.grad.detach().clone() for p in model.parameters()])


def _large_vocab_model(vocab, seq):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=vocab,
        n_positions=seq,
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


def _max_output_numel(fn):
    """The largest tensor any aten op produces while ``fn`` runs (forward and backward)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Largest(TorchDispatchMode):
        numel = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    Largest.numel = max(Largest.numel, t.numel())
            return out

    with Largest():
        fn()
    return Largest.numel


def test_chunked_trainer_never_materialises_the_logits_and_matches_naive(tmp_path):
    from rwtheory.lm.losses import CHUNKED_MIN_VOCAB, default_chunk_size

    vocab, b, t = CHUNKED_MIN_VOCAB, 2, 256  # 512 tokens > one chunk (341)
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, vocab, (b, t), generator=g)
    labels = x.clone()
    labels[1, 200:] = -100
    batch = {"input_ids": x, "labels": labels}
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, save_strategy="no", max_steps=1
    )
    out = {}
    for chunked in (None, False):  # None: on by default at this vocabulary
        trainer = ReweightingTrainer(
            model=_large_vocab_model(vocab, t),
            args=args,
            reweighter=SampleReweighter("linupper", 0.4),
            chunked=chunked,
        )
        assert trainer.chunked is (chunked is None)
        trainer.model.train()

        def step(trainer=trainer, chunked=chunked):
            loss = trainer.compute_loss(trainer.model, dict(batch))
            loss.backward()
            out[chunked] = (
                float(loss.detach()),
                [p.grad.clone() for p in trainer.model.parameters()],
            )

        out[(chunked, "numel")] = _max_output_numel(step)
    full = b * t * vocab
    assert out[(False, "numel")] >= full  # the naive path has the logits
    assert out[(None, "numel")] <= default_chunk_size(vocab) * vocab < full
    assert out[None][0] == pytest.approx(out[False][0], rel=1e-6)
    worst = max(
        float((p - q).abs().max()) for p, q in zip(out[None][1], out[False][1], strict=True)
    )
    assert worst <= 1e-6
    assert ReweightingTrainer(model=_model(), args=args).chunked is False  # V = 40


def test_chunked_trainer_rejects_post_processed_logits(tmp_path):
    model = _model()
    model.config.logit_scale = 0.5
    args = transformers.TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    with pytest.raises(
        ValueError,
        match=r"chunked=True: the model post-processes its logits "
        r"\(config.logit_scale\); pass chunked=False",
    ):
        ReweightingTrainer(model=model, args=args, chunked=True)


@pytest.mark.parametrize("weights_over", ["micro_batch", "optimizer_step"])
def test_trainer_accumulation_weights_over(tmp_path, weights_over):
    grads = _Grads()
    reweighter = SampleReweighter("linupper", 0.4, weights_over=weights_over)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        max_steps=1,
        gradient_accumulation_steps=2,
        learning_rate=1e-2,
        max_grad_norm=0.0,
    )  # no clipping
    trainer = _Sequential(
        model=_model(), args=args, train_dataset=_Data(), callbacks=[grads], reweighter=reweighter
    )
    trainer.train()
    # by hand: the first 8 samples, per-sample losses of the initial model
    d, ref_model = _Data(), _model()
    losses = per_sample_loss(ref_model(input_ids=d.x[:8]).logits, d.labels[:8])
    lv = losses.detach().float()
    if weights_over == "optimizer_step":  # one weighting over both micro-batches
        w = rw.sample_weights(lv, "linupper", 0.4)
    else:  # each micro-batch on its own, halved
        w = (
            torch.cat(
                [
                    rw.sample_weights(lv[:4], "linupper", 0.4),
                    rw.sample_weights(lv[4:], "linupper", 0.4),
                ]
            )
            / 2
        )
    (w * losses).sum().backward()
    worst = max(
        float((p - q.grad).abs().max())
        for p, q in zip(grads.grads[0], ref_model.parameters(), strict=True)
    )
    assert worst <= 1e-6
    s = reweighter.stats
    assert s.n == 8 and s.micro_batches == (1 if weights_over == "optimizer_step" else 2)
    assert s.max_weight == pytest.approx(float(w.max()), rel=1e-6)
    assert reweighter.step == 1
