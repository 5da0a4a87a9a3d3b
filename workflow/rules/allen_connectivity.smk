# Allen Mouse Connectivity data: the embedded cache (source: embedded) or allensdk's
# download (source: allen), then the regression problem X, Y, Omega of Harris et al. 2016.

CONN = section("connectivity")


def _user_cache() -> str | None:
    """The folder of a user's own Allen cache (config connectivity.cache_manifest), checked."""
    manifest = CONN.get("cache_manifest")
    if not manifest:
        return None
    path = Path(manifest).expanduser()
    if SOURCE != "allen":
        raise ValueError(f"connectivity.cache_manifest ({manifest}) names an existing Allen cache; "
                         f"it needs source: allen (source is {SOURCE!r})")
    if path.name != "mouse_connectivity_manifest.json" or not path.is_file():
        raise ValueError(f"connectivity.cache_manifest: {path} is not an existing mouse_connectivity_manifest.json "
                         "(give the manifest file of a MouseConnectivityCache folder)")
    return str(path.parent.resolve())


CONN_USER_CACHE = _user_cache()
CONN_CACHE = CONN_USER_CACHE or resources_path(SOURCE, "connectivity")


def _selection_params():
    keys = (
        "source_areas", "target_areas", "hemisphere", "min_injection_fraction_in_source",
        "max_injection_volume_mm3", "injection_site_min_fraction", "data_mask_threshold",
        "min_data_coverage", "cre", "contralateral",
    )
    return {k: CONN[k] for k in keys if k in CONN}


rule connectivity_embedded_cache:
    output:
        cache=directory(resources_path("embedded", "connectivity")),
    params:
        spec=CONN["embedded"],
        resolution=CONN["resolution"],
        seed=config["seed"],
    log:
        "logs/connectivity/connectivity_embedded_cache.log",
    benchmark:
        "benchmarks/connectivity/connectivity_embedded_cache.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/allen_connectivity_embedded_cache.py"


rule connectivity_download:
    output:
        done=resources_path("allen", "connectivity", "download_complete.json"),
    params:
        cache=CONN_USER_CACHE or resources_path("allen", "connectivity"),
        user_cache=CONN_USER_CACHE is not None,
        resolution=CONN["resolution"],
        selection=_selection_params(),
        allen_api=config["allen_api"],
        download=config["download"],
    log:
        "logs/connectivity/connectivity_download.log",
    benchmark:
        "benchmarks/connectivity/connectivity_download.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
    conda:
        ENV
    script:
        "../scripts/allen_connectivity_download.py"


rule connectivity_data:
    input:
        cache=(
            CONN_CACHE
            if SOURCE == "embedded"
            else resources_path("allen", "connectivity", "download_complete.json")
        ),
    output:
        data="results/connectivity/data.nc",
    params:
        cache=CONN_CACHE,
        offline=SOURCE == "embedded",
        resolution=CONN["resolution"],
        selection=_selection_params(),
        source=SOURCE,
        scale=SCALE,
        seed=config["seed"],
    log:
        "logs/connectivity/connectivity_data.log",
    benchmark:
        "benchmarks/connectivity/connectivity_data.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/allen_connectivity_data.py"


register_target("connectivity_data", rules.connectivity_data.output)
