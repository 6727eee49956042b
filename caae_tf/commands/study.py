"""``caae-tf study build|serve|report|simulate``: paper 001's user study (§4.2, Fig. 4) as a tool."""

from __future__ import annotations

HELP = "build, run (local web survey) and report paper 001's user study (Fig. 4)"
DESCRIPTION = (
    "Paper 001's user study. `study build` picks real images from a labelled source and generates the same "
    "number per emotion with a cGAN (one-hot labels), a CAAE (edits to each emotion's valence/arousal) or "
    "takes them from a folder made by any generator, all resized to one size; `study serve` runs the survey "
    "(consent + age/gender, then every image in a per-participant random order with a 5-point Likert row per "
    "emotion) on a local web server with SQLite storage; `study report` writes Fig. 4, every rating as CSV and "
    "a JSON summary with recognition rates and Mann-Whitney U tests. `study simulate` answers a running study "
    "with scripted participants (demos/tests only: it reads the private manifest)."
)
#: only `study build --model` needs TensorFlow; it imports it itself.
NEEDS_TF = False


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="study_command", metavar="ACTION")
    sub.required = True

    b = sub.add_parser("build", help="pick real images, generate fakes, write a study directory")
    b.add_argument("--real", required=True, help="labelled source of real images: CSV, folder with labels.csv, "
                   "class folders, or a FACES folder (ID_age_gender_emotion_set.jpg names)")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="cGAN or CAAE run dir or SavedModel (kind detected)")
    src.add_argument("--generated", help="labelled source of images made by any other generator")
    b.add_argument("--per-emotion", type=int, default=3, help="real and generated images per emotion (paper: 3)")
    b.add_argument("--emotions", default=None,
                   help="comma-separated emotions "
                        "(default: the cGAN's six: neutral,sadness,disgust,fear,anger,happiness)")
    b.add_argument("--seed", type=int, default=0, help="seed of the image picks and noise vectors")
    b.add_argument("--size", type=int, default=None, help="image size in px (default: the generator's)")
    b.add_argument("--square", choices=("crop", "stretch"), default="crop",
                   help="non-square images: centre crop (default) or stretch (what `prepare faces` trains on)")
    b.add_argument("--display-size", type=int, default=256, help="on-screen size in px (default 256, the paper's)")
    b.add_argument("--caae-inputs", default=None,
                   help="labelled source of faces the CAAE edits (default: --real, never a real stimulus)")
    b.add_argument("--title", default=None, help="title shown to participants")
    b.add_argument("--out", required=True, help="study directory to write")
    b.add_argument("--force", action="store_true", help="replace a non-empty directory (never one with responses)")

    s = sub.add_parser("serve", help="run the survey web server (127.0.0.1 by default)")
    s.add_argument("study_dir", metavar="STUDY_DIR")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; e.g. 0.0.0.0 for a lab network — explicit only)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    s.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    s.add_argument("--admin-token", default=None, help="admin token to use (default: the study's, kept in "
                   "STUDY_DIR/secret)")
    s.add_argument("--new-admin-token", action="store_true", help="issue a new admin token (old links stop working)")

    r = sub.add_parser("report", help="Fig. 4 PNG, ratings CSV and JSON summary")
    r.add_argument("study_dir", metavar="STUDY_DIR")
    r.add_argument("--out", default=None, help="output folder (default STUDY_DIR/report)")
    r.add_argument("--include-incomplete", action="store_true", help="also use participants who did not finish")
    r.add_argument("--note", default=None, help="second title line of the figure (e.g. 'simulated participants')")

    m = sub.add_parser("simulate", help="scripted participants answer a running study (demos/tests only)")
    m.add_argument("study_dir", metavar="STUDY_DIR", help="the study (its private manifest drives the answers)")
    m.add_argument("--url", required=True, help="base URL of the running server, e.g. http://127.0.0.1:8000")
    m.add_argument("--participants", type=int, default=5)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--random", action="store_true", help="uniformly random ratings instead of the oracle model")


def run(args) -> int:
    action = args.study_command
    if action == "build":
        return _build(args)
    if action == "serve":
        from caae_tf.study.server import serve

        return serve(args.study_dir, host=args.host, port=args.port, threads=args.threads,
                     admin_token=args.admin_token, rotate_admin=args.new_admin_token)
    if action == "report":
        from caae_tf.study.report import write_report

        res = write_report(args.study_dir, args.out, include_incomplete=args.include_incomplete, note=args.note)
        s = res["summary"]
        print(f"{s['participants']['included']} participants, {s['n_ratings']} ratings")
        for src in ("real", "generated"):
            o = s["overall"][src]
            rate = "n/a" if o["recognition_rate"] is None else f"{o['recognition_rate']:.1%}"
            print(f"  {src}: recognition rate {rate}, mean agreement {o['mean_agreement']}")
        p = s["overall"]["mann_whitney"]["p"]
        print(f"  real vs generated (true emotion ratings): Mann-Whitney p = {p}")
        for k in ("figure", "csv", "json"):
            print(f"wrote {res[k]}")
        return 0
    if action == "simulate":
        return _simulate(args)
    raise AssertionError(action)  # pragma: no cover


def _build(args) -> int:
    from caae_tf import labels as L
    from caae_tf.study.build import DEFAULT_TITLE, build_study

    if args.model is not None:
        from caae_tf import tf_env

        tf_env.tf()  # quiet TensorFlow start-up before the generator loads
    emotions = L.CGAN_EMOTIONS if not args.emotions else [e.strip() for e in args.emotions.split(",") if e.strip()]
    manifest = build_study(
        args.out, real=args.real, model=args.model, generated=args.generated, per_emotion=args.per_emotion,
        seed=args.seed, size=args.size, emotions=emotions, caae_inputs=args.caae_inputs,
        title=args.title or DEFAULT_TITLE, display_size=args.display_size, force=args.force, square=args.square,
        log=print)
    n_real = sum(1 for it in manifest["items"] if it["source"] == "real")
    print(f"study {manifest['study_id']}: {n_real} real + {len(manifest['items']) - n_real} generated images; "
          f"manifest.json is private (never served)")
    print(f"next: caae-tf study serve {args.out}")
    return 0


def _simulate(args) -> int:
    from caae_tf.study.files import load_study
    from caae_tf.study.simulate import oracle_rater, random_rater, simulate

    study = load_study(args.study_dir, verify_images=False)
    raters = [random_rater(args.seed + k) if args.random else oracle_rater(study.manifest, args.seed + k)
              for k in range(args.participants)]
    people = simulate(args.url, raters)
    print(f"{len(people)} simulated participants finished ({sum(len(p.acked) for p in people)} answers)")
    return 0
