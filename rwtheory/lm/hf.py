"""Hugging Face ``transformers`` integration: a ``Trainer`` whose training loss is reweighted.

Needs the optional extra ``pip install "rwtheory[hf]"``; ``import rwtheory.lm`` works without
it (``rwtheory.lm.ReweightingTrainer`` imports this module on first use)::

    from rwtheory.lm import ReweightingTrainer, SampleReweighter
    trainer = ReweightingTrainer(
        model=model, args=args, train_dataset=ds,
        reweighter=SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=500)))

What changes relative to ``Trainer`` (the paper's GPT-2 runs use the same design, App. A.2):

* training: the per-sample causal-LM losses (labels shifted, -100 ignored; a fully padded
  sample gets weight 0) are reweighted on the global batch (all data-parallel ranks: the
  Trainer wraps the model in ``DistributedDataParallel``, which averages gradients; the loss
  is scaled accordingly by :func:`rwtheory.lm.reweighted_loss`). The temperature follows
  ``state.global_step``, so the micro-batches of one accumulated step share it.
* memory (``chunked``): above :data:`rwtheory.lm.losses.CHUNKED_MIN_VOCAB` vocabulary entries
  (by default) the loss comes from the final hidden states and the output projection by
  :func:`rwtheory.lm.per_sample_loss_from_hidden`: the model is called with
  ``logits_to_keep=1`` (it projects one position per sample: ``B x 1 x V`` logits) and the
  base model's ``last_hidden_state`` is captured by a forward hook, so the ``B x T x V``
  logits never exist, in any dtype. Needs a ``transformers`` whose causal-LM models take
  ``logits_to_keep`` (>= 4.50; ``num_logits_to_keep`` in 4.45-4.49) and a model whose logits
  are the plain projection (no ``final_logit_softcapping`` / ``logit_scale``); with FSDP the
  output projection is sharded outside the forward pass, so pass ``chunked=False`` there.
* gradient accumulation: ``reweighter.weights_over == "micro_batch"`` (default, the paper's
  code) weights each micro-batch; the Trainer divides its loss by the accumulation steps
  (``loss_is_scaled_for_ga = False``; the model is not handed ``num_items_in_batch``).
  ``"optimizer_step"`` weights over all micro-batches of the step: ``get_batch_samples`` (which
  prefetches the step's micro-batches) runs a no-grad scoring pass over them first.
* evaluation: the ordinary unweighted token-mean cross-entropy.
* logging: each training log line carries the last optimizer step's statistics through
  ``Trainer.log`` (so every reporting integration -- wandb, tensorboard -- gets them; one
  host read per log line): ``rw_rho``, ``rw_max_weight``, ``rw_entropy``,
  ``rw_temperature``, ``rw_loss_spread``, ``rw_loss_mean``, ``rw_n``, ``rw_burn_in``, the
  weight histogram ``rw_hist_<lo>_<hi>`` (fraction of samples per fixed bin of n·w) and,
  when the batches carry ``domain_ids`` (kept away from the model),
  ``rw_share_domain_<id>`` (:meth:`rwtheory.lm.stats.ReweightStats.log_dict`). The
  reweighter's ``token_weighting`` and ``burn_in_steps`` apply (scored-token counts from the
  labels).

``nn.DataParallel`` (several GPUs, one process) works with ``chunked=False``: the outputs are
gathered before the loss. Tensor and sequence parallelism are not supported: their ranks do
not each hold distinct samples, so gathering and scaling by the world size would be wrong.
"""

from __future__ import annotations

import contextlib
import inspect

import torch
from transformers import Trainer

from rwtheory.lm.losses import (
    CHUNKED_MIN_VOCAB,
    IGNORE_INDEX,
    per_sample_loss,
    per_sample_loss_from_hidden,
)
from rwtheory.lm.reweighter import SampleReweighter

__all__ = ["ReweightingTrainer"]


def _unwrap(model):
    """The model under its wrappers: ``DistributedDataParallel`` / ``DataParallel``
    (``.module``) and ``torch.compile``'s ``OptimizedModule`` (``._orig_mod``), in any
    nesting."""
    while True:
        if isinstance(model, torch._dynamo.eval_frame.OptimizedModule):
            model = model._orig_mod
        elif hasattr(model, "module"):
            model = model.module
        else:
            return model


def _keep_argument(core) -> str | None:
    """The name of the model's 'project only the last positions' argument, if any."""
    params = inspect.signature(core.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return name
    return None


def _chunked_blocker(core) -> str | None:
    """Why the chunked path cannot reproduce this model's logits (None when it can)."""
    head = core.get_output_embeddings() if hasattr(core, "get_output_embeddings") else None
    if head is None or not isinstance(getattr(head, "weight", None), torch.Tensor):
        return "the model has no output projection (get_output_embeddings() with a weight)"
    if not hasattr(core, "base_model_prefix") or not hasattr(core, core.base_model_prefix):
        return "the model has no base model (base_model_prefix) to take hidden states from"
    if _keep_argument(core) is None:
        return "the model's forward takes no logits_to_keep argument (transformers < 4.45)"
    cfg = getattr(core, "config", None)
    for attr in ("final_logit_softcapping", "logit_scale", "output_multiplier_scale"):
        if getattr(cfg, attr, None) not in (None, 1, 1.0):
            return f"the model post-processes its logits (config.{attr})"
    return None


def _mixed_precision(hidden, weight):
    """Half-precision hidden states with a float32 output projection outside autocast (e.g.
    a model cast to bf16 but a float32 head): multiply in the hidden states' dtype, as the
    model's own autocast would."""
    half = (torch.bfloat16, torch.float16)
    if (
        hidden.dtype in half
        and weight.dtype != hidden.dtype
        and not torch.is_autocast_enabled(hidden.device.type)
    ):
        return torch.autocast(hidden.device.type, dtype=hidden.dtype)
    return contextlib.nullcontext()


class ReweightingTrainer(Trainer):
    """``transformers.Trainer`` with the loss-based sample reweighting of Sow et al.

    Parameters: those of ``Trainer``, plus ``reweighter`` (a :class:`SampleReweighter`;
    default ``SampleReweighter("linupper", 1.0)``), ``ignore_index`` (-100) and ``chunked``
    (``None``: the chunked loss from hidden states when the vocabulary has at least
    :data:`~rwtheory.lm.losses.CHUNKED_MIN_VOCAB` entries and the model allows it; ``True``:
    always, an error when the model does not allow it; ``False``: from the logits).
    Batches must carry ``labels`` (the causal-LM convention: labels = input ids, padding
    -100); the model must return ``logits``.
    """

    # the loss of compute_loss is a per-micro-batch objective: the Trainer divides it by the
    # number of gradient-accumulation steps (transformers >= 5; see __init__ for older ones)
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args,
        reweighter: SampleReweighter | None = None,
        ignore_index: int = IGNORE_INDEX,
        chunked: bool | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if reweighter is not None and not isinstance(reweighter, SampleReweighter):
            raise TypeError(
                f"reweighter must be a SampleReweighter, got {type(reweighter).__name__}"
            )
        if chunked not in (None, True, False):
            raise TypeError(f"chunked must be None, True or False, got {chunked!r}")
        self.reweighter = reweighter if reweighter is not None else SampleReweighter()
        self.ignore_index = ignore_index
        core = _unwrap(self.model)
        blocker = _chunked_blocker(core)
        if chunked and blocker:
            raise ValueError(f"chunked=True: {blocker}; pass chunked=False")
        vocab = core.get_output_embeddings().weight.shape[0] if blocker is None else 0
        self.chunked = (
            (blocker is None and vocab >= CHUNKED_MIN_VOCAB) if chunked is None else chunked
        )
        # Older transformers decide the accumulation scaling from this flag: with it False the
        # model gets no num_items_in_batch and the loss is divided by the accumulation steps.
        self.model_accepts_loss_kwargs = False

    def per_sample_losses(self, model, inputs):
        """``(losses, outputs)``: the per-sample causal-LM losses of a batch (NaN for a
        sample without a scored token), chunked or from the logits."""
        inputs = dict(inputs)
        if "labels" not in inputs:
            raise ValueError(
                "inputs must contain 'labels' (causal LM: the input ids, padding "
                "-100) for the reweighted loss"
            )
        labels = inputs.pop("labels")
        inputs.pop("domain_ids", None)  # for the reweighter's stats, not the model
        if not self.chunked:
            outputs = model(**inputs)
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            return per_sample_loss(logits, labels, self.ignore_index, shift=True), outputs
        core = _unwrap(model)
        captured = []
        hook = getattr(core, core.base_model_prefix).register_forward_hook(
            lambda _m, _a, out: captured.append(out[0])
        )
        try:
            outputs = model(**inputs, **{_keep_argument(core): 1})
        finally:
            hook.remove()
        head, hidden = core.get_output_embeddings(), captured[-1]
        if type(head.weight).__name__ == "DTensor" or hidden.shape[-1] != head.weight.shape[-1]:
            raise ValueError(
                "chunked: the output projection is sharded outside the forward "
                "pass (FSDP); pass chunked=False to ReweightingTrainer"
            )
        with _mixed_precision(hidden, head.weight):
            losses = per_sample_loss_from_hidden(
                hidden, head.weight, labels, head.bias, self.ignore_index, shift=True
            )
        return losses, outputs

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None, **kwargs):
        losses, outputs = self.per_sample_losses(model, inputs)
        if model.training:
            counts = (inputs["labels"][:, 1:] != self.ignore_index).sum(dim=1)
            loss, _ = self.reweighter(
                losses,
                step=self.state.global_step,
                counts=counts,
                domain_ids=inputs.get("domain_ids"),
            )
            if self.reweighter.weights_over == "optimizer_step":
                # the weights sum to 1 over the step: undo the Trainer's division
                loss = loss * self.current_gradient_accumulation_steps
        else:  # the ordinary token mean (NaN losses are the samples without tokens)
            counts = (inputs["labels"][:, 1:] != self.ignore_index).sum(dim=1)
            loss = (torch.nan_to_num(losses) * counts).sum() / counts.sum()
        return (loss, outputs) if return_outputs else loss

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        if self.reweighter.weights_over == "optimizer_step" and batches:
            model = self.model_wrapped
            with torch.no_grad():  # the scoring pass of the step
                for batch in batches:
                    losses, _ = self.per_sample_losses(model, self._prepare_inputs(batch))
                    self.reweighter.score(losses)
        return batches, num_items

    def log(self, logs, *args, **kwargs):
        stats = self.reweighter.stats
        if stats is not None and "loss" in logs:  # training log lines only
            logs = {**logs, **stats.log_dict("rw_")}
        return super().log(logs, *args, **kwargs)
