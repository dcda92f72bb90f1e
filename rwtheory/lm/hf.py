"""Hugging Face ``transformers`` integration: a ``Trainer`` whose training loss is reweighted.

Needs the optional extra ``pip install "rwtheory[hf]"``; ``import rwtheory.lm`` works without
it (``rwtheory.lm.ReweightingTrainer`` imports this module on first use)::

    from rwtheory.lm import ReweightingTrainer, SampleReweighter
    trainer = ReweightingTrainer(
        model=model, args=args, train_dataset=ds,
        reweighter=SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=500)))

What changes relative to ``Trainer`` (the paper's GPT-2 runs use the same design, App. A.2):

* training: the per-sample causal-LM losses (labels shifted, -100 ignored) are reweighted on
  the global batch of the optimizer's micro-step (all data-parallel ranks: the Trainer wraps
  the model in ``DistributedDataParallel``, which averages gradients; the loss is scaled
  accordingly by :func:`rwtheory.lm.reweighted_loss`). The temperature follows
  ``state.global_step``, so the micro-batches of one accumulated step share it.
* gradient accumulation: the loss is a per-micro-batch objective, so the Trainer divides it by
  the number of accumulation steps (``loss_is_scaled_for_ga = False``; the model is not
  handed ``num_items_in_batch``).
* evaluation: the ordinary unweighted token-mean cross-entropy.
* logging: each training log line carries the last step's statistics through
  ``Trainer.log`` (so every reporting integration -- wandb, tensorboard -- gets them):
  ``rw_rho``, ``rw_max_weight``, ``rw_entropy``, ``rw_temperature``, ``rw_loss_spread``,
  ``rw_loss_mean``, ``rw_n``, ``rw_burn_in``, the weight histogram ``rw_hist_<lo>_<hi>``
  (fraction of samples per fixed bin of n·w) and, when the batches carry ``domain_ids``
  (popped before the model is called), ``rw_share_domain_<id>`` (see
  :meth:`rwtheory.lm.stats.ReweightStats.log_dict`).

``nn.DataParallel`` (several GPUs, one process) works: the outputs are gathered before the
loss. Tensor and sequence parallelism are not supported: their ranks do not each hold
distinct samples, so gathering and scaling by the world size would be wrong.
"""

from __future__ import annotations

from transformers import Trainer

from rwtheory.lm.losses import IGNORE_INDEX, per_sample_loss
from rwtheory.lm.reweighter import SampleReweighter

__all__ = ["ReweightingTrainer"]


class ReweightingTrainer(Trainer):
    """``transformers.Trainer`` with the loss-based sample reweighting of Sow et al.

    Parameters: those of ``Trainer``, plus ``reweighter`` (a :class:`SampleReweighter`;
    default ``SampleReweighter("linupper", 1.0)``) and ``ignore_index`` (-100).
    Batches must carry ``labels`` (the causal-LM convention: labels = input ids, padding
    -100); the model must return ``logits``.
    """

    # the loss of compute_loss is a per-micro-batch objective: the Trainer divides it by the
    # number of gradient-accumulation steps (transformers >= 5; see __init__ for older ones)
    loss_is_scaled_for_ga = False

    def __init__(self, *args, reweighter: SampleReweighter | None = None,
                 ignore_index: int = IGNORE_INDEX, **kwargs):
        super().__init__(*args, **kwargs)
        if reweighter is not None and not isinstance(reweighter, SampleReweighter):
            raise TypeError(f"reweighter must be a SampleReweighter, got "
                            f"{type(reweighter).__name__}")
        self.reweighter = reweighter if reweighter is not None else SampleReweighter()
        self.ignore_index = ignore_index
        # Older transformers decide the accumulation scaling from this flag: with it False the
        # model gets no num_items_in_batch and the loss is divided by the accumulation steps.
        self.model_accepts_loss_kwargs = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None,
                     **kwargs):
        inputs = dict(inputs)
        if "labels" not in inputs:
            raise ValueError("inputs must contain 'labels' (causal LM: the input ids, padding "
                             "-100) for the reweighted loss")
        labels = inputs.pop("labels")
        domain_ids = inputs.pop("domain_ids", None)
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        losses, counts = per_sample_loss(logits, labels, self.ignore_index, shift=True,
                                         return_counts=True)
        if model.training:
            loss, _ = self.reweighter(losses, valid=counts > 0, step=self.state.global_step,
                                      counts=counts, domain_ids=domain_ids)
        else:  # the ordinary token mean
            loss = (losses * counts).sum() / counts.sum()
        return (loss, outputs) if return_outputs else loss

    def log(self, logs, *args, **kwargs):
        stats = self.reweighter.stats
        if stats is not None and "loss" in logs:  # training log lines only
            logs = {**logs, **stats.log_dict("rw_")}
        return super().log(logs, *args, **kwargs)
