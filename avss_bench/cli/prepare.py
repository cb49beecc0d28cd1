"""`avss-bench prepare <corpus>`: one subcommand per registered corpus, generated from the registry.

Each subcommand is a thin wrapper over `avss_bench.prepare.prepare_corpus`. Defaults come from
the corpus's bundled recipe `recipes/<corpus>/prepare.yaml` (or `--recipe PATH`); options given
on the command line override it.
"""

from __future__ import annotations

from pathlib import Path

import click

from avss_bench.cli._common import quiet_option
from avss_bench.core.errors import AvssError
from avss_bench.core.numbers import Bounds, Number, number_option
from avss_bench.prepare.condition_options import condition_options, conditions_from_options


def _parse_sizes(text: str | None) -> dict[str, int] | None:
    """`tr=100,cv=20,tt=20` -> {"tr": 100, ...}."""
    if not text:
        return None
    from avss_bench.io.manifest import canonical_split

    sizes = {}
    for part in text.split(","):
        try:
            key, value = part.split("=")
            sizes[canonical_split(key.strip())] = int(value)
        except ValueError:
            raise AvssError(f"--num-mixtures must look like tr=N,cv=N,tt=N, got '{text}'") \
                from None
        if sizes[canonical_split(key.strip())] < 1:
            raise AvssError(f"--num-mixtures: {key}={value} must be at least 1")
    return sizes


def _summary(report: dict) -> str:
    lines = []
    shard = report["options"].get("shard")
    for split, counts in report["counts"].items():
        origin = report["lists"][split]["origin"]
        part = f" of this shard's {counts['handled_here']}" if shard else ""
        lines.append(f"  {split}: {counts['written']} mixtures written, {counts['dropped']} "
                     f"dropped{part} ({origin} list of {counts['listed']})")
    for split, record in (report.get("test_sets") or {}).items():
        lines.append(f"  {split} test set: {record['label']} ({record['kind']}; fingerprint "
                     f"{record['fingerprint'][:12]})")
    u = report["utterances"]
    lines.append(f"  utterances: {u['needed']} needed, {u['sources_ok']} sources and "
                 f"{u['lips_ok']} lip ROIs ok, {u['skipped']} skipped")
    for item in report["skipped"][:20]:
        lines.append(f"  skipped {item['utt']} ({item['stage']}): {item['reason']}")
    if len(report["skipped"]) > 20:
        lines.append(f"  ... {len(report['skipped']) - 20} more skipped (report.json)")
    return "\n".join(lines)


def _corpus_options(cls: type):  # noqa: ANN202 - a click decorator
    """The corpus class's own options (`Corpus.options`, e.g. AVSpeech's --csv)."""
    def decorate(func):  # noqa: ANN001, ANN202
        for opt in reversed(tuple(getattr(cls, "options", ()))):
            kind = click.Path(dir_okay=False, path_type=Path) if opt.is_path else str
            extra = {} if opt.default is None else {"default": opt.default,
                                                    "show_default": True}
            func = click.option(opt.flag, opt.name, required=opt.required, type=kind,
                                help=opt.help, **extra)(func)
        return func
    return decorate


def make_command(name: str) -> click.Command:
    """The `prepare <name>` subcommand of one registered corpus."""
    from avss_bench.corpora.registry import corpora

    cls = corpora.get(name)
    doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else name
    module_doc = (__import__(cls.__module__, fromlist=["_"]).__doc__ or "").strip()

    @click.command(name=name, help=module_doc or doc, short_help=doc)
    @_corpus_options(cls)
    @click.option("--root", *getattr(cls, "root_aliases", ()), "root", required=True,
                  type=click.Path(file_okay=False, path_type=Path),
                  help="The raw corpus in its real on-disk layout.")
    @click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
                  help="Output folder (created; a rerun resumes in it).")
    @click.option("--mix-list", default=None,
                  help="'official' (download the CTCNet lists, pinned sha256, cached), "
                       "'generate' (seeded lists by the official law), or a folder holding "
                       "mix_2_spk_{tr,cv,tt}.scp. A split without a list is generated.")
    @click.option("--splits", default=None, help="Comma-separated subset of tr,cv,tt.")
    @click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1),
                  help="Worker processes (joblib) of --executor local.")
    @click.option("--executor", default="local", show_default=True,
                  metavar="local|dask-local:N|dask://HOST:PORT|slurm[:k=v,...]",
                  help="Where the batch tasks run: this machine's process pool, a local Dask "
                       "cluster of N worker processes, an existing Dask scheduler, or Slurm "
                       "jobs via dask-jobqueue (keys: jobs, queue, cores, memory, walltime, "
                       "config=YAML, any SLURMCluster argument). Outputs are identical.")
    @click.option("--shard", default=None, metavar="I/N",
                  help="Prepare only part I of N (0 <= I < N) into OUT; then run --merge.")
    @click.option("--merge", is_flag=True,
                  help="Join the shards' parts in OUT: check completeness, write manifests "
                       "and report.json.")
    @click.option("--landmarker", default=None, type=click.Path(dir_okay=False, path_type=Path),
                  help="MediaPipe face_landmarker.task (default: $AVSS_BENCH_LANDMARKER, "
                       "the cache, or the model bundled with avss-bench).")
    @click.option("--lips-store", default=None, metavar="DIR|off",
                  help="Mouth-ROI store shared by every corpus prepared from the same clips: "
                       "crops are extracted once and copied bit for bit (default: "
                       "$AVSS_BENCH_LIPS_STORE, else lips/ in the avss-bench cache; off: none).")
    @click.option("--seed", default=None, type=Number(Bounds(integer=True)),
                  help="Seed of generated lists.")
    @click.option("--num-mixtures", default=None, metavar="tr=N,cv=N,tt=N",
                  help="Size of generated lists (default: the official sizes), or the first N "
                       "lines of a given list.")
    @click.option("--skip-lips", is_flag=True,
                  help="Do not extract mouth ROIs (audio-only preparation).")
    @number_option("--min-source-seconds", default=None, bounds=Bounds(0.0, 60.0),
                   help="Skip sources shorter than this (default 0: keep them, "
                        "'min'-truncating their mixtures as the original recipe does).")
    @click.option("--recipe", default=None, type=click.Path(dir_okay=False, path_type=Path),
                  help=f"Preparation settings (default: the bundled recipes/{name}/prepare.yaml).")
    @condition_options
    @quiet_option
    def command(root: Path, out: Path, mix_list: str | None, splits: str | None, jobs: int,
                shard: str | None, merge: bool, landmarker: Path | None,
                lips_store: str | None, seed: int | None,
                num_mixtures: str | None, skip_lips: bool, min_source_seconds: float | None,
                recipe: Path | None, quiet: bool, executor: str, **condition_kw) -> None:
        from avss_bench.prepare.pipeline import load_prepare_config, prepare_corpus

        corpus_kw = {opt.name: condition_kw.pop(opt.name) for opt in getattr(cls, "options", ())}
        config = load_prepare_config(name, recipe)
        report = prepare_corpus(
            name, root, out,
            mix_list=mix_list if mix_list is not None else config.mix_list,
            splits=splits.split(",") if splits else config.splits,
            jobs=jobs, shard=shard, landmarker=landmarker,
            seed=seed if seed is not None else config.seed,
            num_mixtures=_parse_sizes(num_mixtures) or config.num_mixtures,
            quiet=quiet, merge=merge, skip_lips=skip_lips or not config.lips,
            min_source_seconds=(min_source_seconds if min_source_seconds is not None
                                else config.min_source_seconds),
            segment_seconds=config.segment_seconds, executor=executor,
            conditions=conditions_from_options(**condition_kw),
            corpus_options={k: v for k, v in corpus_kw.items() if v is not None},
            lips_store=lips_store)
        where = "report.json" if shard is None else "shards/"
        click.echo(f"prepared {name} into {out} ({where}; "
                   f"{report['timings_s']['total']:.1f} s)")
        if quiet:  # one line: where the results went; data errors still show and fail
            _sanity(report.get("sanity"), out, errors_only=True)
            return
        click.echo(_summary(report))
        corpus_summary = report.get("corpus") or {}
        if "clips_missing" in corpus_summary:
            click.echo(f"  clips: {corpus_summary['clips_found']} of {corpus_summary['rows']} "
                       f"CSV rows on disk, {corpus_summary['clips_missing']} missing "
                       "(report.json: corpus)")
        if report["dropped"]:
            click.echo(f"  {len(report['dropped'])} mixtures dropped, with reasons: "
                       f"{out}/report.json")
        _sanity(report.get("sanity"), out)

    return command


def _sanity(sanity: dict | None, out: Path, shown: int = 20, errors_only: bool = False) -> None:
    """Print the data-sanity findings (`errors_only`: the errors alone, for --quiet); errors end
    the command with exit status 1 (every output is written, report.json lists them all)."""
    from avss_bench.prepare.sanity import describe

    if not sanity:
        return
    findings = [f for f in sanity["findings"] if f["level"] == "error" or not errors_only]
    for finding in findings[:shown]:
        click.echo(f"  {describe(finding)}", err=finding["level"] == "error")
    if len(findings) > shown:
        click.echo(f"  ... {len(findings) - shown} more findings (report.json: sanity)")
    if sanity["errors"]:
        raise AvssError(f"{sanity['errors']} data error(s) and {sanity['warnings']} warning(s) "
                        f"(report.json: sanity); the outputs are written, fix the data or the "
                        "list before using them", out / "report.json")
    if sanity["warnings"] and not errors_only:
        click.echo(f"  {sanity['warnings']} warning(s) (report.json: sanity)")


class CorpusCommands(click.Group):
    """`prepare`: its subcommands are the registered corpora."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from avss_bench.corpora.registry import corpora

        return corpora.names()

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from avss_bench.corpora.registry import corpora

        if name not in corpora.names():
            return None
        return make_command(name)


@click.group(cls=CorpusCommands, context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Turn a raw corpus (LRS2, LRS3, VoxCeleb2, AVSpeech) into the standard 2-speaker benchmark.

    Writes OUT/wav16k/min/{tr,cv,tt}/{mix,s1,s2}/*.wav (the official names), OUT/lips/*.npz
    (96x96 grey mouth crops, 25 fps), OUT/manifests/{tr,cv,tt}.csv and OUT/report.json. Options
    of each corpus's command add harder variants: 3-4 speakers, noise, reverberation, target
    absent (`avss-bench prepare lrs2 --help`).

    \b
        avss-bench prepare lrs2 --root /data/LRS2 --out data/lrs2 --mix-list official
        avss-bench prepare lrs2 --root /data/LRS2 --out data/lrs2-3spk --speakers 3
    """
