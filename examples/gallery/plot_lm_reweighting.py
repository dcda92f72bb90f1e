"""
The reweighted loss in a training loop and in the Hugging Face Trainer
======================================================================

The LLM path of the paper (Algorithm 1): per-sample losses of a causal language model, the
weights of the global batch from the paper's pipeline, the weighted loss. Here on a tiny
GPT-2 built from a config (random initialisation, nothing downloaded) and a synthetic corpus
in which a quarter of the samples are random tokens that no model can learn.
"""

# %%
# A tiny GPT-2 and a corpus with noise
# ------------------------------------
# Three quarters of the samples repeat a short pattern (learnable); the rest are uniform
# random tokens (their loss stays high).
import tempfile

import matplotlib.pyplot as plt
import torch
import transformers

import rwtheory as rw
from rwtheory.lm import ReweightingTrainer, SampleReweighter, per_sample_loss

VOCAB, SEQ, N = 32, 24, 256
transformers.logging.set_verbosity_error()
torch.set_num_threads(1)  # a model this small runs fastest on one thread


def tiny_gpt2(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=SEQ,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config)


g = torch.Generator().manual_seed(0)
patterns = torch.randint(1, VOCAB, (8, 4), generator=g)
tokens = patterns[torch.randint(0, 8, (N,), generator=g)].repeat(1, SEQ // 4)
noise = torch.arange(N) % 4 == 0
tokens[noise] = torch.randint(1, VOCAB, (int(noise.sum()), SEQ), generator=g)

# %%
# A plain training loop
# ---------------------
# ``per_sample_loss`` gives one loss per sample (labels shifted by one,
# ``rwtheory.lm.IGNORE_INDEX`` ignored);
# ``SampleReweighter`` turns the batch's losses into weights (the paper's warm-up: :math:`r = 100`,
# then the target) and returns the weighted loss. Under ``torch.distributed`` the weights
# are computed on the global batch of all ranks; here there is one process.
model = tiny_gpt2()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
reweighter = SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=10))
history = {"rho": [], "noise_weight": [], "loss": []}
for _ in range(40):
    idx = torch.randint(0, N, (32,), generator=g)
    logits = model(input_ids=tokens[idx]).logits
    losses = per_sample_loss(logits, tokens[idx])
    loss, weights = reweighter(losses)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    history["rho"].append(reweighter.stats.rho)
    history["noise_weight"].append(float(weights[noise[idx]].sum()))
    history["loss"].append(float(losses.detach().mean()))
print("last step:", reweighter.stats)

# %%
# LinUpper up-weights the high-loss samples: once the learnable samples are fitted, the
# random ones carry most of the weight, and :math:`\rho = n \max_i w_i` is well above the
# paper's cap :math:`\rho \le 2` at :math:`r = 0.4` (``rw.worst_case_rho`` bounds it; the
# ``"kl_capped"`` strategy enforces it).
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2))
ax1.plot(history["loss"])
ax1.set_xlabel("step")
ax1.set_ylabel("mean per-sample loss")
ax2.plot(history["noise_weight"], label="weight on the random samples")
ax2.plot([r / 32 for r in history["rho"]], label="max weight (rho / n)")
ax2.axhline(2 / 32, color="k", ls="--", lw=1, label="the cap 2 / n")
ax2.set_xlabel("step")
ax2.legend(fontsize="small")
fig.tight_layout()
print("worst case at r = 0.4, n = 32:", rw.worst_case_rho("linupper", 32, 0.4))

# %%
# The Hugging Face Trainer
# ------------------------
# ``ReweightingTrainer`` is a ``transformers.Trainer`` whose training loss is the reweighted
# one (extra ``rwtheory[hf]``); everything else (arguments, callbacks, logging, distributed
# training) is the Trainer's. Each log line carries the reweighting statistics (``rw_rho``,
# ``rw_entropy``, ...).


class Corpus(torch.utils.data.Dataset):
    def __len__(self):
        return N

    def __getitem__(self, i):
        return {"input_ids": tokens[i], "labels": tokens[i]}


args = transformers.TrainingArguments(
    output_dir=tempfile.mkdtemp(prefix="rwtheory-trainer-"),
    per_device_train_batch_size=32,
    max_steps=12,
    learning_rate=3e-3,
    logging_steps=3,
    report_to=[],
    save_strategy="no",
    use_cpu=True,
    disable_tqdm=True,
    seed=0,
)
trainer = ReweightingTrainer(
    model=tiny_gpt2(),
    args=args,
    train_dataset=Corpus(),
    reweighter=SampleReweighter("kl_capped", rw.warmup_schedule(0.4, warmup_steps=3)),
)
trainer.remove_callback(transformers.PrinterCallback)  # the loop below prints the log
trainer.train()
for entry in trainer.state.log_history:
    if "rw_rho" in entry:
        print(
            f"step {entry['step']:3d}  loss {entry['loss']:.3f}  rho {entry['rw_rho']:.3f}  "
            f"temperature {entry['rw_temperature']:g}"
        )
plt.show()
