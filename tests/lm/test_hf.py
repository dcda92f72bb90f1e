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
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_positions=SEQ, n_embd=16, n_layer=1,
                                  n_head=2, bos_token_id=0, eos_token_id=0, resid_pdrop=0.0,
                                  embd_pdrop=0.0, attn_pdrop=0.0)  # no dropout: comparable
    return transformers.GPT2LMHeadModel(cfg)


class _Data(torch.utils.data.Dataset):
    def __init__(self, n=16):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randint(0, VOCAB, (n, SEQ), generator=g)
        self.labels = self.x.clone()
        self.labels[1::4, 6:] = -100    # padded rows

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.labels[i]}


def _trainer(tmp_path, reweighter, **kw):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, report_to=[], use_cpu=True,
        save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, **kw)
    return ReweightingTrainer(model=_model(), args=args, train_dataset=_Data(),
                              reweighter=reweighter)


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
    worst = max(float((p.grad - q.grad).abs().max()) for p, q in
                zip(model.parameters(), ref_model.parameters(), strict=True))
    assert worst <= 1e-6
    assert trainer.reweighter.stats.rho == pytest.approx(4 * float(w.max()), rel=1e-6)


def test_eval_loss_is_huggingface_token_mean(tmp_path):
    trainer = _trainer(tmp_path, SampleReweighter("extremes", 0.4), max_steps=1)
    model = trainer.model
    model.eval()
    batch = _batch(8)
    with torch.no_grad():
        ours = trainer.compute_loss(model, dict(batch))
        theirs = model(**batch).loss       # transformers' own ForCausalLMLoss
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6)


def test_training_runs_with_schedule_and_gradient_accumulation(tmp_path):
    reweighter = SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=2))
    trainer = _trainer(tmp_path, reweighter, max_steps=3, gradient_accumulation_steps=2,
                       learning_rate=1e-2)
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
    code = ("import sys; sys.modules['transformers'] = None\n"
            "import rwtheory.lm as lm\n"
            "assert callable(lm.per_sample_loss)\n"
            "try:\n    lm.ReweightingTrainer\nexcept ImportError:\n    print('lazy-ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "lazy-ok"
