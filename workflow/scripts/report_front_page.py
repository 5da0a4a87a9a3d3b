"""Write the report's front page: description, the claims table, provenance."""
import json
from pathlib import Path

import pandas as pd

from neurorepro.report import front_page

sm = snakemake  # noqa: F821
claims = pd.read_csv(sm.input.claims, sep="\t")
claims["holds"] = claims["holds"].astype(str).str.lower() == "true"
prov = json.loads(Path(sm.input.provenance).read_text())
text = front_page(claims, prov, Path(sm.input.description).read_text())
out = Path(sm.output.rst)
out.parent.mkdir(parents=True, exist_ok=True)
tmp = out.with_name("." + out.name + ".tmp")
tmp.write_text(text)
tmp.replace(out)
