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
* evaluation and prediction: the ordinary unweighted token-mean cross-entropy, always from
  the model's full logits (never chunked), so ``predict()`` and ``compute_metrics`` get the
  stock Trainer's ``(B, T, V)`` logits.
* ``label_smoothing_factor``: honoured in the per-sample losses (``F.cross_entropy``'s
  definition, that of the stock Trainer's ``LabelSmoother``); with ``"uniform"`` weights and
  ``token_weighting="global"`` the training gradient is the stock Trainer's.
* ``args.torch_compile``: the model is compiled as by the stock Trainer (the chunked path
  sees through ``OptimizedModule``); the loss and the reweighting run eagerly around it.
* packed rows: a batch's ``document_ids`` (kept away from the model) or ``position_ids``
  (``DataCollatorWithFlattening``) mark documents, each weighted on its own
  (:mod:`rwtheory.lm.packing`); keeping the documents apart inside attention is the
  model's business (e.g. ``attn_implementation="flash_attention_2"``, which reads the
  ``position_ids``; the CPU ``sdpa``/``eager`` kernels do not).
* logging: each training log line carries the last optimizer step's statistics through
  ``Trainer.log`` (so every reporting integration -- wandb, tensorboard -- gets them; one
  host read per log line): ``rw_rho``, ``rw_max_weight``, ``rw_entropy``,
  ``rw_temperature``, ``rw_loss_spread``, ``rw_loss_mean``, ``rw_n``, ``rw_burn_in``,
  ``rw_objective`` (the reweighted objective), ``rw_token_loss_mean`` (the unweighted
  token-mean loss, the curve of an unreweighted baseline), ``rw_skipped``, the
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
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from transformers import Trainer

from rwtheory.lm.losses import (
    CHUNKED_MIN_VOCAB,
    IGNORE_INDEX,
    per_sample_loss,
    per_sample_loss_from_hidden,
)
from rwtheory.lm.reweighter import SampleReweighter

__all__ = ["ReweightingTrainer"]


def _unwrap(model: Any) -> Any:
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


def _keep_argument(core: Any) -> str | None:
    """The name of the model's 'project only the last positions' argument, if any."""
    params = inspect.signature(core.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return name
    return None


def _chunked_blocker(core: Any) -> str | None:
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


def _mixed_precision(
    hidden: torch.Tensor, weight: torch.Tensor
) -> contextlib.AbstractContextManager[Any]:
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
    ``packed`` (``None``/``True``: a batch's ``document_ids`` -- kept from the model -- or
    else its ``position_ids`` mark packed documents, weighted one by one; ``False``: rows)
    and ``max_documents`` (documents per row, default the row length; see
    :mod:`rwtheory.lm.packing`). Batches must carry ``labels`` (the causal-LM convention:
    labels = input ids, padding -100); the model must return ``logits``.
    """

    # the loss of compute_loss is a per-micro-batch objective: the Trainer divides it by the
    # number of gradient-accumulation steps (transformers >= 5; see __init__ for older ones)
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        reweighter: SampleReweighter | None = None,
        ignore_index: int = IGNORE_INDEX,
        chunked: bool | None = None,
        packed: bool | None = None,
        max_documents: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if packed not in (None, True, False):
            raise TypeError(f"packed must be None, True or False, got {packed!r}")
        self.packed, self.max_documents = packed, max_documents
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

    def _loss_options(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Label smoothing (the Trainer's ``label_smoothing_factor``) and the document
        boundaries of packed rows (``document_ids``, else ``position_ids`` of the batch, with
        ``packed`` not False; :mod:`rwtheory.lm.packing`)."""
        options: dict[str, Any] = {"label_smoothing": float(self.args.label_smoothing_factor)}
        if self.packed is not False:
            if inputs.get("document_ids") is not None:
                options["document_ids"] = inputs["document_ids"]
            elif inputs.get("position_ids") is not None:
                options["position_ids"] = inputs["position_ids"]
            if len(options) > 1:
                options["max_documents"] = self.max_documents
        return options

    def per_sample_losses(
        self, model: nn.Module, inputs: Mapping[str, Any], *, full_logits: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """``(losses, counts, outputs)``: the per-sample (per-document, for packed rows)
        causal-LM losses of a batch (NaN for a sample without a scored token) and their
        scored tokens, chunked or from the logits (``full_logits``: always from the model's
        full logits, as evaluation and prediction need them)."""
        inputs = dict(inputs)
        if "labels" not in inputs:
            raise ValueError(
                "inputs must contain 'labels' (causal LM: the input ids, padding "
                "-100) for the reweighted loss"
            )
        options = self._loss_options(inputs)
        labels = inputs.pop("labels")
        for key in ("domain_ids", "document_ids"):  # for the loss and the stats, not the model
            inputs.pop(key, None)
        if not self.chunked or full_logits:
            outputs = model(**inputs)
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            losses, counts = per_sample_loss(
                logits, labels, self.ignore_index, shift=True, return_counts=True, **options
            )
            return losses, counts, outputs
        core = _unwrap(model)
        keep = _keep_argument(core)
        assert keep is not None  # the chunked path is taken only with it (_chunked_blocker)
        captured: list[torch.Tensor] = []
        hook = getattr(core, core.base_model_prefix).register_forward_hook(
            lambda _m, _a, out: captured.append(out[0])
        )
        try:
            outputs = model(**inputs, **{keep: 1})
        finally:
            hook.remove()
        head, hidden = core.get_output_embeddings(), captured[-1]
        if type(head.weight).__name__ == "DTensor" or hidden.shape[-1] != head.weight.shape[-1]:
            raise ValueError(
                "chunked: the output projection is sharded outside the forward "
                "pass (FSDP); pass chunked=False to ReweightingTrainer"
            )
        with _mixed_precision(hidden, head.weight):
            losses, counts = per_sample_loss_from_hidden(
                hidden,
                head.weight,
                labels,
                head.bias,
                self.ignore_index,
                shift=True,
                return_counts=True,
                **options,
            )
        return losses, counts, outputs

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
        **kwargs: Any,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        if not model.training:  # evaluation: the stock Trainer's token mean, full logits
            losses, counts, outputs = self.per_sample_losses(model, inputs, full_logits=True)
            loss = (torch.nan_to_num(losses) * counts).sum() / counts.sum().clamp(min=1)
            return (loss, outputs) if return_outputs else loss
        losses, counts, outputs = self.per_sample_losses(model, inputs)
        loss, _ = self.reweighter(
            losses,
            step=self.state.global_step,
            counts=counts,
            domain_ids=_domains(inputs.get("domain_ids"), losses),
        )
        if self.reweighter.weights_over == "optimizer_step":
            # the weights sum to 1 over the step: undo the Trainer's division
            loss = loss * self.current_gradient_accumulation_steps
        return (loss, outputs) if return_outputs else loss

    def get_batch_samples(
        self, epoch_iterator: Iterator, num_batches: int, device: torch.device
    ) -> tuple[list, torch.Tensor | int | None]:
        batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        if self.reweighter.weights_over == "optimizer_step" and batches:
            model = self.model_wrapped
            with torch.no_grad():  # the scoring pass of the step
                for batch in batches:
                    losses, counts, _ = self.per_sample_losses(model, self._prepare_inputs(batch))
                    self.reweighter.score(losses, counts=counts)
        return batches, num_items

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        stats = self.reweighter.stats
        if stats is not None and "loss" in logs:  # training log lines only
            logs = {**logs, **stats.log_dict("rw_")}
        return super().log(logs, *args, **kwargs)


def _domains(domain_ids: torch.Tensor | None, losses: torch.Tensor) -> torch.Tensor | None:
    """Per-sample domain ids ``(B,)``; for packed rows (``B * D`` document losses) each
    document takes its row's domain."""
    if domain_ids is None or domain_ids.shape[0] == losses.shape[0]:
        return domain_ids
    return domain_ids.repeat_interleave(losses.shape[0] // domain_ids.shape[0])
