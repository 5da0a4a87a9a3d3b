"""Rule dimensionality_train: train one network with one seed, record probe activations (pre and post) and snapshots."""
from neurorepro.dimensionality import load_network_data, train_network
from neurorepro.io import write_netcdf, write_tsv
from neurorepro.nets import save_snapshots
from neurorepro.runtime import get_logger, resolve_device, set_threads

snakemake = globals()["snakemake"]
p = snakemake.params
t = dict(p.train)
net = snakemake.wildcards.dim_net
log = get_logger("dimensionality_train", snakemake.log[0])
set_threads(snakemake.threads)
device = resolve_device(p.device)
log.info("network %s (%s) on %s with %s, seed %d, %d threads", net, t["kind"], t["dataset"], device, p.seed,
         snakemake.threads)
data, t = load_network_data(t, p.data_root, p.seed, net)
model, trainer = train_network(data, seed=p.seed, device=str(device), logger=log, **t)
meta = {"network": net, "dataset": p.train["dataset"], "kind": p.train["kind"], "seed": p.seed, "device": str(device),
        "n_train": len(data[0]), "n_test": len(data[2])}
trainer.activations_.attrs.update({**meta, "model_kwargs": str(p.train["model_kwargs"])})
history = trainer.history_
history.insert(0, "network", net)
history.insert(1, "seed", p.seed)
write_netcdf(trainer.activations_, snakemake.output.activations)
write_tsv(history, snakemake.output.history)
save_snapshots(trainer, snakemake.output.snapshots, meta={**meta, "model_kwargs": p.train["model_kwargs"]})
log.info("final test accuracy %.3f", history["test_acc"].iloc[-1])
