"""Write the report's front page: description, the claims by kind, provenance."""
import json
from pathlib import Path

from neurorepro.io import write_text
from neurorepro.report import front_page, read_claims_table

sm = snakemake  # noqa: F821
prov = json.loads(Path(sm.input.provenance).read_text())
text = front_page(read_claims_table(sm.input.claims), prov, Path(sm.input.description).read_text())
write_text(text, sm.output.rst)
