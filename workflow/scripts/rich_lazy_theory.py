"""Rule rich_lazy_theory: two-layer linear network, closed form vs gradient-flow and paper-style simulations."""
import pandas as pd

from neurorepro.io import write_tsv
from neurorepro.rich_lazy.theory import run_theory
from neurorepro.runtime import get_logger

snakemake = globals()["snakemake"]
p = snakemake.params
log = get_logger("rich_lazy_theory", snakemake.log[0])
th = dict(p.theory)
rows, curve = run_theory(d=th["d"], h=th["h"], ranks=th["ranks"], gain=th["gain"], n_seeds=th["n_seeds"],
                         n_samples=th["n_samples"], lr=th["lr"], max_steps=th["max_steps"], tol=th["tol"],
                         seed=p.seed)
df = pd.DataFrame(rows)
for (setting, init), d in df.groupby(["setting", "init"], sort=False):
    log.info("%-10s %-11s rel dW %.4f  kernel alignment %.4f", setting, init, d.relative_weight_change.mean(),
             d.kernel_alignment.mean())
write_tsv(df, snakemake.output.table)
write_tsv(pd.DataFrame(curve), snakemake.output.curve)
