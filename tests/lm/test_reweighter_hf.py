"""ReweightingTrainer logs the reweighter's statistics through Trainer.log (histogram,
per-domain shares, burn-in) and hands it the scored-token counts and the domain ids."""

import pytest
import torch

import rwtheory as rw
from rwtheory.lm import SampleReweighter, kl_capped, per_sample_loss
from rwtheory.lm.stats import RHO_BIN_EDGES

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
    )
    return transformers.GPT2LMHeadModel(cfg)


class _Data(torch.utils.data.Dataset):
    """Padded rows and a domain id per sample (0, 1, 2)."""

    def __init__(self, n=12):
        g = torch.Generator().manual_seed(2)
        self.x = torch.randint(0, VOCAB, (n, SEQ), generator=g)
        self.labels = self.x.clone()
        for i in range(n):
            self.labels[i, 3 + i % 7 :] = -100
        self.domains = torch.arange(n) % 3

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.labels[i], "domain_ids": self.domains[i]}


def _trainer(tmp_path, reweighter, **kw):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=6,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        remove_unused_columns=False,
        **kw,
    )
    return ReweightingTrainer(
        model=_model(), args=args, train_dataset=_Data(), reweighter=reweighter
    )


def test_trainer_logs_histogram_domain_shares_and_burn_in(tmp_path):
    reweighter = SampleReweighter(kl_capped(2.0), 0.3, burn_in_steps=1)
    trainer = _trainer(tmp_path, reweighter, max_steps=2, learning_rate=1e-3)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "rw_rho" in h]
    assert [h["step"] for h in logs] == [1, 2]
    first, second = logs
    assert first["rw_burn_in"] == 1.0 and second["rw_burn_in"] == 0.0
    assert first["rw_rho"] == pytest.approx(1.0, abs=1e-6)  # exact uniform
    assert 1.0 < second["rw_rho"] <= 2.0 * (1 + 1e-6)  # kl_capped's cap
    bins = [
        f"rw_hist_{lo:g}_{hi:g}"
        for lo, hi in zip(RHO_BIN_EDGES[:-1], RHO_BIN_EDGES[1:], strict=True)
    ]
    for h in logs:
        assert sum(h[b] for b in bins) == pytest.approx(1.0)
        shares = [h[f"rw_share_domain_{d}"] for d in range(3)]
        assert sum(shares) == pytest.approx(1.0, abs=1e-6)
    assert first["rw_hist_0.9_1.1"] == 1.0  # burn-in: all at n w = 1
    assert [first[f"rw_share_domain_{d}"] for d in range(3)] == pytest.approx([1 / 3] * 3, abs=1e-6)


def test_trainer_passes_token_counts(tmp_path):
    """token_weighting='global' inside the Trainer: the loss is the token-weighted objective
    computed by hand from the labels' scored tokens."""
    reweighter = SampleReweighter("linupper", 0.4, token_weighting="global")
    trainer = _trainer(tmp_path, reweighter, max_steps=1)
    model = trainer.model
    model.train()
    data = _Data()
    batch = {"input_ids": data.x[:6], "labels": data.labels[:6], "domain_ids": data.domains[:6]}
    loss = trainer.compute_loss(model, dict(batch))
    with torch.no_grad():
        losses, counts = per_sample_loss(
            model(input_ids=batch["input_ids"]).logits, batch["labels"], return_counts=True
        )
    w = rw.sample_weights(losses.float(), "linupper", 0.4).double()
    expect = (w * 6 * counts / counts.sum() * losses.double()).sum()
    assert float(loss.detach()) == pytest.approx(float(expect), rel=1e-6)
    assert reweighter.stats.domain_share is not None
