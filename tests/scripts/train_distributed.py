#!/usr/bin/env python
"""Multi-GPU (data-parallel) training of an xraylib model with fastai's distributed support and Hugging Face accelerate.

One process per GPU, started by `accelerate launch` (or `torchrun`); each builds the same DataLoaders
(`xray_dataloaders`, the image cache built once by rank 0 first, with `rank0_first`) and `xray_learner`, and
trains inside `learn.distrib_ctx()`, which wraps the model in DistributedDataParallel (with SyncBatchNorm on a
GPU) and gives each process its shard of every batch. Rank 0 recomputes the last epoch's mean validation AUROC
on the whole validation set by itself and prints it beside the logged one (equal: `AUROCMulti` gathers every
process's shard), then saves the model with `save_model` if given `--out`. `tests/test_learner.py` runs the CPU
smoke run below on 2 gloo processes and checks both.

    pip install accelerate
    # one machine, 4 GPUs (--bs is per process: the effective batch is bs x processes)
    accelerate launch --multi_gpu --num_processes 4 tests/scripts/train_distributed.py \
        --data /data/nih --arch resnet34 --pretrained auto --size 224 --bs 64 --epochs 5 --fp16 --out models/ddp
    # the same with PyTorch's launcher
    torchrun --standalone --nproc_per_node 4 tests/scripts/train_distributed.py --data /data/nih --pretrained auto --epochs 5 --fp16
    # two machines with 4 GPUs each (run on both, --machine_rank 0 and 1; --num_processes is the total)
    accelerate launch --multi_gpu --num_machines 2 --machine_rank 0 --main_process_ip 10.0.0.1 --main_process_port 29500 \
        --num_processes 8 tests/scripts/train_distributed.py --data /data/nih --pretrained auto --epochs 5 --fp16
    # CPU smoke run (2 gloo processes; what the test runs)
    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no \
        tests/scripts/train_distributed.py --data phantom --n_images 160 --size 64 --bs 8 --epochs 1 --cpu_patch --out /tmp/ddp-smoke

On several machines give `xray_dataloaders` a `cache_dir` on a shared file system, or each machine builds its
own (concurrent builds are safe: each writes uniquely named files and swaps a pointer atomically).

fastai's distributed code is written for GPUs; a CPU-only two-process run needs three adjustments: start it with
`accelerate launch --multi_gpu` (with `--cpu` accelerate starts one process) and create accelerate's state with
`PartialState(cpu=True)` before the first Accelerator (else each process runs undistributed); enter
`distrib_ctx(sync_bn=False, cpu=True)` (SyncBatchNorm is GPU-only); and pass `--cpu_patch`, which keeps
`DistributedDL._broadcast`'s shuffled indices on the CPU (fastai moves them to CUDA for NCCL). Without a GPU the
script creates the state and enters `distrib_ctx` so by itself; the launcher's flags and `--cpu_patch` are yours.
"""
import os, sys, time, warnings
from pathlib import Path
from fastcore.script import call_parse, store_true
warnings.filterwarnings('ignore', category=UserWarning)


def _cpu_broadcast_patch():
    "fastai's `DistributedDL._broadcast` moves the shuffled indices to CUDA (for NCCL); on CPU (gloo) keep them there."
    import torch
    from fastai.distributed import DistributedDL
    def _broadcast(self, t, rank):
        t = torch.LongTensor(t)
        torch.distributed.broadcast(t, rank)
        return t.tolist()
    DistributedDL._broadcast = _broadcast


def _check_metric(learn, world:int):
    "Recompute the last epoch's mean validation AUROC on this one process: equal when the metric saw every shard."
    import torch
    from xraylib.training.metrics import auroc_per_label
    from xraylib.stats import pathology_mean
    from xraylib.inference.modelfile import model_probs
    rec = learn.recorder
    names = [n for n in rec.metric_names[1:] if n not in ('epoch', 'time')]
    logged = dict(zip(names, rec.values[-1])).get('mean_auroc')
    dl = learn.dls.valid; dl = getattr(dl, 'dl', dl)  # the plain DataLoader under a DistributedDL
    batches = list(dl)  # one pass over the whole validation set, this process only
    probs = model_probs(learn.model, batches)  # final weights
    targs = torch.cat([torch.as_tensor(b[1]) for b in batches]).cpu()
    full = pathology_mean(auroc_per_label(probs, targs), list(learn.dls.vocab))  # the 14-pathology mean, as the metric
    print(f'mean_auroc logged during the {world}-process epoch {logged:.6f}; recomputed on the whole validation set '
          f'({len(targs)} images) by one process {full:.6f}')


@call_parse
def main(data:str='phantom', # a dataset folder or label CSV, or 'phantom' (generated, n images)
         n_images:int=64, # phantom images (with --data phantom)
         arch:str='resnet18', # torchvision architecture
         pretrained:str='no', # 'auto', 'yes' or 'no' (ImageNet weights for the body)
         size:int=224, # image size
         bs:int=32, # batch size per process
         epochs:int=1, # epochs (fit_one_cycle, or fine_tune when pretrained)
         lr:float=1e-3, # maximum learning rate
         fp16:store_true=False, # mixed precision (GPU only)
         out:str=None, # save the model here (rank 0; model.safetensors + model.json)
         cpu_patch:store_true=False # allow a CPU (gloo) run: keep fastai's index broadcast on the CPU
        ):
    "Data-parallel training with `learn.distrib_ctx()`; start one process per GPU with `accelerate launch`."
    import torch
    from fastai.distributed import rank0_first, rank_distrib, num_distrib
    from xraylib.data.block import xray_dataloaders
    from xraylib.training.learner import xray_learner
    from xraylib.inference.modelfile import save_model
    if cpu_patch: _cpu_broadcast_patch()
    if not torch.cuda.is_available() and num_distrib() > 1:
        # no GPU: accelerate runs the processes on the CPU (gloo) only when its shared state is created with
        # cpu=True, before the first Accelerator (rank0_first's and distrib_ctx's) would fix it as not distributed
        from accelerate import PartialState
        PartialState(cpu=True)
    rank, world = rank_distrib(), max(num_distrib(), 1)
    dev = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}' if torch.cuda.is_available() else 'cpu'
    def _source():
        if data != 'phantom': return Path(data)
        from xraylib.datasets.phantom import make_phantom_sample
        return make_phantom_sample(n=n_images, size=max(size, 64), seed=0, num_workers=0)
    def _dls():  # rank 0 builds the image cache; the others then reuse it
        return xray_dataloaders(_source(), size=size, bs=bs, device=dev, quiet=rank != 0)
    dls = rank0_first(_dls)
    pre = {'auto': None, 'yes': True, 'no': False}[pretrained]  # xray_learner's pretrained: None (when found), True, False
    learn = xray_learner(dls, arch, pretrained=pre)
    if fp16 and torch.cuda.is_available(): learn = learn.to_fp16()
    if rank == 0: print(f'{world} process(es) on {dev.split(":")[0]}, {len(dls.train_ds)} training images, '
                        f'bs {bs} per process ({bs * world} in all), {arch} at {size}px')
    t = time.perf_counter()
    # on the CPU: no SyncBatchNorm (GPU-only in torch), gloo via cpu=True
    with learn.distrib_ctx(**({} if torch.cuda.is_available() else dict(sync_bn=False, cpu=True))):
        if learn.pretrained: learn.fine_tune(epochs, lr)
        else: learn.fit_one_cycle(epochs, lr)
    if rank == 0:
        print(f'trained {epochs} epoch(s) in {time.perf_counter() - t:.1f}s on {world} process(es)')
        _check_metric(learn, world)
        if out: print('saved', save_model(learn, out))
