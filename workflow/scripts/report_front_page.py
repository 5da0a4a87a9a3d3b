"""Write the report's front page: description, the claims table, provenance."""
import json
from pathlib import Path

import pandas as pd

from neurorepro.io import write_text
from neurorepro.report import front_page

sm = snakemake  # noqa: F821
claims = pd.read_csv(sm.input.claims, sep="\t")
claims["holds"] = claims["holds"].astype(str).str.lower() == "true"
prov = json.loads(Path(sm.input.provenance).read_text())
text = front_page(claims, prov, Path(sm.input.description).read_text())
write_text(text, sm.output.rst)
