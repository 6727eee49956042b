import pytest

from caae_tf.config import (
    CAAEConfig, CGANConfig, ConfigError, IdentityConfig, RegressorConfig, apply_overrides, load_config,
    resolve_config, save_config,
)


def test_paper_defaults():
    c = CAAEConfig()
    assert (c.image_size, c.batch_size, c.z_dim, c.label_repeat) == (96, 49, 50, 50)
    assert (c.lambda_rec, c.lambda_z, c.lambda_img) == (1.0, 0.01, 0.01)
    assert c.identity_weight == pytest.approx(1 / 3)
    assert (c.learning_rate, c.beta_1, c.beta_2) == (2e-4, 0.5, 0.999)
    g = CGANConfig()
    assert (g.image_size, g.learning_rate, g.num_emotions) == (256, 1e-4, 6)


@pytest.mark.parametrize("cls", [CAAEConfig, CGANConfig, RegressorConfig, IdentityConfig])
def test_yaml_round_trip(tmp_path, cls):
    cfg = apply_overrides(cls(), ["steps=7", "seed=3"])
    path = tmp_path / "c.yaml"
    save_config(cfg, path, extra={"command": "x"})
    assert load_config(path) == cfg
    assert load_config(path, cls) == cfg


def test_set_overrides_types_and_aliases():
    cfg = apply_overrides(CAAEConfig(), ["image_size=64", "identity_weight=0", "e_filters=[8,16,32,64]",
                                         "mixed_precision=float32", "lambda_iden=0.5", "jit_compile=true"])
    assert cfg.image_size == 64 and cfg.identity_weight == 0.5 and cfg.e_filters == [8, 16, 32, 64]
    assert cfg.jit_compile is True and isinstance(cfg.identity_weight, float)


@pytest.mark.parametrize("bad, needle", [
    ("nope=1", "unknown key 'nope'"),
    ("batch_size=abc", "expected an integer"),
    ("batch_size=2.5", "expected an integer"),
    ("jit_compile=3", "true/false"),
    ("image_size=100", "multiple of 16"),
    ("steps=0", "steps must be >= 1"),
    ("mixed_precision=fp8", "mixed_precision must be one of"),
    ("noequals", "expected key=value"),
])
def test_bad_overrides_are_clear(bad, needle):
    with pytest.raises(ConfigError, match=needle):
        apply_overrides(CAAEConfig(), [bad])


def test_unknown_key_lists_valid_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: caae\nbatchsize: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert "batchsize" in str(exc.value) and "batch_size" in str(exc.value) and str(p) in str(exc.value)


def test_wrong_model_and_bad_files(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: cgan\n")
    with pytest.raises(ConfigError, match="expected 'caae'"):
        load_config(p, CAAEConfig)
    p.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_resolve_order(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"model": "caae", "steps": 5, "seed": 1}')
    cfg = resolve_config(CAAEConfig, str(p), ["seed=2"])
    assert (cfg.steps, cfg.seed) == (5, 2)


def test_repo_presets_load():
    from caae_tf import presets

    assert presets.names()
    for name in presets.names():
        path = presets.path(name)
        cfg = load_config(path)
        cfg.validate(path)
