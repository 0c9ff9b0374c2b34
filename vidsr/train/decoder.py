"""Fine-tune the tokenizer's decoder alone: ``python -m vidsr.train.decoder --out runs/dec --minutes 45``.

Why only the decoder: the encoder, the codebook and the ``phi`` convolutions define the tokens, and the
VAR teacher and its student were trained on those tokens; a new decoder keeps every token (and so both
transformers) valid while it learns to undo more of the quantization error. Measured before this stage:
the shipped tokenizer's decoder gives 30.8 dB on the held-out photographs from the *unquantized*
latent and 29.2 dB from the quantized one, so the codebook, not the decoder's capacity, costs the
1.6 dB; the decoder has only ever been trained jointly with a moving codebook.

Same crops as stage ``vq`` of ``vidsr.train.tokenizer`` (a pure function of (seed, step)), loss L1 +
``--ssim-weight`` (1 - SSIM) / 2 on pixels, Adam with a cosine learning rate over a wall-time budget.
Resumable from ``OUT/ckpt.pt``; the log (loss, held-out reconstruction) goes to ``OUT/train.log``; a number
written to ``OUT/threads`` changes the running job's thread count (``vidsr.train.loop``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from kornia.losses import ssim_loss

from vidsr.data import eval_images, train_images
from vidsr.models.vqvae import VQVAE, load_vqvae, save_weights
from vidsr.train.loop import Budget, Mean, Run, cosine_lr
from vidsr.train.tokenizer import hq_batch, recon_figures

__all__ = ["decoder_step", "main"]

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "tokenizer.safetensors"


def decoder_step(vq: VQVAE, opt: torch.optim.Optimizer, x_BCHW: torch.Tensor, ssim_weight: float) -> dict[str, float]:
    """One step on the decoder alone: the quantized latent comes from the frozen encoder and quantizer."""
    with torch.no_grad():
        fhat_BChw = vq.quantize.f_to_fhat(vq.encoder(x_BCHW))
    rec = vq.decoder(fhat_BChw)
    l1, ls = F.l1_loss(rec, x_BCHW), ssim_loss(rec, x_BCHW, window_size=11)
    opt.zero_grad(set_to_none=True)
    (l1 + ssim_weight * ls).backward()
    opt.step()
    return {"l1": l1.item(), "ssim_loss": ls.item()}


def _parse() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vidsr.train.decoder", description=__doc__)
    ap.add_argument("--tokenizer", type=Path, default=WEIGHTS, help="the tokenizer whose decoder is tuned")
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--out", type=Path, default=Path("runs/dec"))
    ap.add_argument("--minutes", type=float, default=45.0, help="training-time budget of the cosine schedule")
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ssim-weight", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=11, help="crop seed (stage vq used 0)")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-side", type=int, default=512)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--export", type=Path, default=None, help="write the tokenizer with the tuned decoder here")
    return ap


def _export(vq: VQVAE, tokenizer: Path, path: Path, budget: Budget) -> None:
    """The tokenizer with the tuned decoder, its history (metadata) kept and the fine-tuning added."""
    from safetensors import safe_open

    with safe_open(str(tokenizer), framework="pt") as f:
        meta = {k: v for k, v in f.metadata().items() if k not in ("config", "kind")}
    meta |= {"decoder_finetune_steps": budget.step, "decoder_finetune_seconds": round(budget.elapsed)}
    save_weights(vq.eval(), path, meta=meta)


def main(argv: list[str] | None = None) -> None:
    args = _parse().parse_args(argv)
    run = Run(args.out, args.threads)
    vq = load_vqvae(args.tokenizer)
    vq.decoder.requires_grad_(True)
    opt = torch.optim.Adam(vq.decoder.parameters(), lr=args.lr, betas=(0.9, 0.99))
    budget = Budget(args.steps, args.minutes)
    if (ck := run.load()) is not None:
        vq.decoder.load_state_dict(ck["decoder"])
        opt.load_state_dict(ck["opt"])
        budget.load_state_dict(ck["state"])
        run.log({"event": "resume", **budget.state_dict()})
    else:
        run.log({"event": "start", "args": {k: str(v) for k, v in vars(args).items()}})
    images = [img for _, img in train_images(args.data, max_side=1600)]
    held_out = eval_images(args.data, max_side=args.eval_side)

    def evaluate() -> None:
        vq.eval()
        r = recon_figures(vq, held_out)
        vq.decoder.train()
        run.log({"step": budget.step, "held_out": {k: round(v, 4) for k, v in r.items()}})

    if budget.step == 0:
        evaluate()  # the starting point, on the same footing as every later figure
    vq.decoder.train()
    mean = Mean()
    budget.start_clock()
    while not budget.done():
        lr = cosine_lr(opt, args.lr, budget.progress())
        terms = decoder_step(vq, opt, hq_batch(images, args.batch, args.seed, budget.step), args.ssim_weight)
        mean.add(**terms)
        budget.tick()
        if budget.every(25):
            m = mean.pop()
            run.log({"step": budget.step, "l1": round(m["l1"], 5), "ssim_loss": round(m["ssim_loss"], 5),
                     "lr": round(lr, 6), "elapsed_s": round(budget.elapsed)})
            run.poll_threads(budget.step)
        if budget.every(args.ckpt_every):
            run.save({"decoder": vq.decoder.state_dict(), "opt": opt.state_dict(), "state": budget.state_dict()})
        if budget.every(args.eval_every):
            evaluate()
            budget.start_clock()  # evaluation is not training time
    if args.export is not None:
        _export(vq, args.tokenizer, args.export, budget)
        run.log({"event": "exported", "path": str(args.export), "step": budget.step})


if __name__ == "__main__":
    main()
