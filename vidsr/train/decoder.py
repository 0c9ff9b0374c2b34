"""Fine-tune the tokenizer's decoder alone: ``python -m vidsr.train.decoder --out runs/dec --minutes 45``.

Why only the decoder: the encoder, the codebook and the ``phi`` convolutions define the tokens, and the
VAR teacher and its student were trained on those tokens; a new decoder keeps every token (and so both
transformers) valid while it learns to undo more of the quantization error. Measured before this stage:
the shipped tokenizer's decoder gives 30.8 dB on the held-out photographs from the *unquantized*
latent and 29.2 dB from the quantized one, so the codebook, not the decoder's capacity, costs the
1.6 dB; the decoder has only ever been trained jointly with a moving codebook.

Same crops as stage ``vq`` of ``vidsr.train.tokenizer`` (a pure function of (seed, step)), loss L1 +
``--ssim-weight`` (1 - SSIM) / 2 on pixels, Adam with a cosine learning rate over a wall-time budget.
Resumable from ``OUT/ckpt.pt``; the log (loss, held-out reconstruction) goes to ``OUT/train.log``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from kornia.losses import ssim_loss

from vidsr.data import eval_images, train_images
from vidsr.models.vqvae import VQVAE, load_vqvae, save_weights
from vidsr.train.tokenizer import _log, hq_batch, recon_figures

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


def main(argv: list[str] | None = None) -> None:
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
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log, ckpt_path = args.out / "train.log", args.out / "ckpt.pt"
    vq = load_vqvae(args.tokenizer)
    for p in vq.decoder.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(vq.decoder.parameters(), lr=args.lr, betas=(0.9, 0.99))
    state = {"step": 0, "elapsed": 0.0}
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        vq.decoder.load_state_dict(ck["decoder"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        _log(log, {"event": "resume", **state})
    else:
        _log(log, {"event": "start", "args": {k: str(v) for k, v in vars(args).items()}})

    images = [img for _, img in train_images(args.data, max_side=1600)]
    held_out = eval_images(args.data, max_side=args.eval_side)

    def evaluate() -> None:
        vq.eval()
        r = recon_figures(vq, held_out)
        vq.decoder.train()
        _log(log, {"step": state["step"], "held_out": {k: round(v, 4) for k, v in r.items()}})

    def checkpoint() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"decoder": vq.decoder.state_dict(), "opt": opt.state_dict(), "state": dict(state)}, tmp)
        tmp.rename(ckpt_path)

    def progress() -> float:
        return min(max(state["step"] / args.steps, state["elapsed"] / (args.minutes * 60)), 1.0)

    if state["step"] == 0:
        evaluate()  # the starting point, on the same footing as every later figure
    vq.decoder.train()
    t_last, acc, n = time.time(), [0.0, 0.0], 0
    while (p := progress()) < 1.0:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * p))
        for g in opt.param_groups:
            g["lr"] = lr
        terms = decoder_step(vq, opt, hq_batch(images, args.batch, args.seed, state["step"]), args.ssim_weight)
        state["step"] += 1
        acc, n = [acc[0] + terms["l1"], acc[1] + terms["ssim_loss"]], n + 1
        now = time.time()
        state["elapsed"], t_last = state["elapsed"] + (now - t_last), now
        done = progress() >= 1.0
        if state["step"] % 25 == 0 or done:
            _log(
                log,
                {
                    "step": state["step"],
                    "l1": round(acc[0] / n, 5),
                    "ssim_loss": round(acc[1] / n, 5),
                    "lr": round(lr, 6),
                    "elapsed_s": round(state["elapsed"]),
                },
            )
            acc, n = [0.0, 0.0], 0
        if state["step"] % args.ckpt_every == 0 or done:
            checkpoint()
        if state["step"] % args.eval_every == 0 or done:
            evaluate()
            t_last = time.time()  # evaluation is not training time
    if args.export is not None:
        from safetensors import safe_open

        with safe_open(str(args.tokenizer), framework="pt") as f:
            meta = {k: v for k, v in f.metadata().items() if k not in ("config", "kind")}  # the tokenizer's history
        meta |= {"decoder_finetune_steps": state["step"], "decoder_finetune_seconds": round(state["elapsed"])}
        vq.eval()
        save_weights(vq, args.export, meta=meta)
        _log(log, {"event": "exported", "path": str(args.export), "step": state["step"]})


if __name__ == "__main__":
    main()
