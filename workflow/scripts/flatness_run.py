"""Rule flatness_run: train one (experiment, lr, batch size, seed) network with plain SGD, measuring it along training."""
from neurorepro.flatness.experiment import load_data, train_and_measure
from neurorepro.flatness.measure import MeasureSettings
from neurorepro.io import write_tsv
from neurorepro.runtime import get_logger, resolve_device, set_threads

snakemake = globals()["snakemake"]
p, wc = snakemake.params, snakemake.wildcards
log = get_logger("flatness_run", snakemake.log[0])
set_threads(snakemake.threads)
device = resolve_device(p.device)
lr, bs, seed = float(wc.lr), int(wc.bs), int(p.base_seed) + int(wc.seed)
log.info("%s: lr=%g batch=%d seed=%d on %s (%s on %s)", wc.exp, lr, bs, seed, device,
         p.train["model_kind"], p.data["dataset"])
data = load_data(p.data["dataset"], p.data_root, classes=p.data["classes"], n_train=p.data["n_train"],
                 n_test=p.data["n_test"], seed=int(p.base_seed), standardize=p.data["standardize"],
                 resize=p.data["resize"])
table = train_and_measure(
    data, lr=lr, batch_size=bs, seed=seed, device=str(device), logger=log,
    settings=MeasureSettings(seed=seed, **p.measure), **p.train,
)
table.insert(0, "experiment", wc.exp)
table["device"] = str(device)
write_tsv(table, snakemake.output[0])
