"""The training entry point: seeded, checkpoints, resumes, exports a loadable ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.emotion.mirror import EVERY_FACE

torch = pytest.importorskip("torch", reason="training needs requirements-train.txt")

pytestmark = pytest.mark.training


def test_train_resume_and_export(ferplus_valid, tmp_path: Path) -> None:
    from pipeline.emotion.classifier import ExpressionClassifier
    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.train import main

    out = tmp_path / "run"
    common = [
        "--out",
        str(out),
        "--limit",
        "256",
        "--batch-size",
        "64",
        "--widths",
        "8,16,16,16",
        "--blocks",
        "1",
        "--mix-prob",
        "0.5",
        "--ema-decay",
        "0.9",
    ]
    main([*common, "--epochs", "1"])
    first = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in first] == [1]
    assert 0.0 < first[0]["valid_majority_acc"] < 1.0
    main([*common, "--epochs", "2"])  # resumes at epoch 1, runs only epoch 2
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    # The averaged weights are scored beside the live ones, and resumed with them.
    assert all(0.0 < r["valid_acc_ema"] < 1.0 and r["weights"] in {"live", "ema"} for r in log)
    model = export_checkpoint(out / "best.pt", tmp_path / "model")
    classifier = ExpressionClassifier(model)
    probs = classifier.predict_proba(list(ferplus_valid.images[:5]))
    assert probs.shape == (5, 8)
    manifest = json.loads((tmp_path / "model" / "emotion.json").read_text())
    assert manifest["validation"]["faces"] == 3191
    # The mirrored pass is measured three ways at export (no face, every face, the unsure
    # faces below the fold's threshold); the last is what ships.
    flip = manifest["flip_averaging"]
    assert flip["with_flip"]["accuracy"] == pytest.approx(manifest["validation"]["accuracy"])
    assert 0.0 < flip["without_flip"]["accuracy"] < 1.0
    assert 0.0 < flip["every_face"]["accuracy"] < 1.0
    assert flip["accuracy_gain_points"] == pytest.approx(
        100 * (flip["with_flip"]["accuracy"] - flip["without_flip"]["accuracy"])
    )
    mirror = manifest["mirror"]
    assert mirror["chosen_on"].startswith("held-out fold")
    assert classifier.mirror_below == (mirror["below"] or float("inf"))
    assert len(mirror["fold_by_threshold"]) == 10
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert f"for none {flip['without_flip']['accuracy']:.2%}" in card
    assert f"for every face {flip['every_face']['accuracy']:.2%}" in card
    # Plain by default; asked for, the rare-class adjustment is chosen on the held-out fold
    # (this model trained without it) and baked into the graph: the same as adding the bias
    # to the plain model's logits.
    import numpy as np

    from pipeline.emotion.adjust import TAU_GRID, adjust_probabilities

    assert manifest["training"]["holdout_in_training"] is False
    assert manifest["logit_adjustment"] is None
    adjusted = export_checkpoint(out / "best.pt", tmp_path / "adjusted", adjust_rare=True)
    adjustment = json.loads((tmp_path / "adjusted" / "emotion.json").read_text())[
        "logit_adjustment"
    ]
    assert adjustment["tau"] in TAU_GRID.tolist()
    faces = list(ferplus_valid.images[:32])
    bias = np.array([adjustment["bias"][name] for name in manifest["labels"]])
    # Both views of every face on both sides: which faces are unsure depends on the bias.
    both = ExpressionClassifier(model, mirror_below=EVERY_FACE)
    expected = adjust_probabilities(both.predict_proba(faces), bias)
    got = ExpressionClassifier(adjusted, mirror_below=EVERY_FACE).predict_proba(faces)
    assert np.allclose(got, expected, atol=1e-4)


def test_ensemble_export_averages_the_members_logits(ferplus_valid, tmp_path: Path) -> None:
    """Two seeds of one recipe ship as one graph: its probabilities are the softmax of the
    members' mean flip-averaged logits over the fitted temperature, its weights are stored in
    float16 (half the bytes) and computed in float32, and the card shows each member alone.
    Members of different recipes are refused."""
    import numpy as np

    from pipeline.emotion.classifier import ExpressionClassifier
    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.network import ExpressionNet
    from pipeline.emotion.train import main, predict_logits

    common = ["--limit", "128", "--batch-size", "64", "--widths", "8,16,16,16", "--blocks", "1"]
    common += ["--epochs", "1", "--mix-prob", "0.5", "--ema-decay", "0.9"]
    common += ["--balance-beta", "0.5", "--balance-from", "0.5"]
    runs = [tmp_path / "seed-1", tmp_path / "seed-2"]
    for seed, run in enumerate(runs, start=1):
        main([*common, "--out", str(run), "--seed", str(seed)])
    model = export_checkpoint([run / "best.pt" for run in runs], tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "emotion.json").read_text())
    assert manifest["architecture"]["members"] == 2
    # Two models exported the same day get different versions (jobs are keyed by version).
    assert manifest["version"].endswith("-" + manifest["sha256"][:8])
    assert [m["seed"] for m in manifest["training"]["members"]] == [1, 2]

    faces = ferplus_valid.images[:64]
    nets = []
    for run in runs:
        checkpoint = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
        net = ExpressionNet((8, 16, 16, 16), 1)
        net.load_state_dict(checkpoint["model"])
        nets.append(net)
    member_logits = [predict_logits(net, faces, torch.device("cpu")) for net in nets]
    assert not np.allclose(member_logits[0], member_logits[1], atol=1e-2)  # two networks
    expected = torch.softmax(
        torch.from_numpy(np.mean(member_logits, axis=0) / manifest["temperature"]), dim=1
    ).numpy()
    both = ExpressionClassifier(model, mirror_below=EVERY_FACE)  # as the expected: both views
    assert np.allclose(both.predict_proba(list(faces)), expected, atol=2e-3)
    parameters = manifest["architecture"]["parameters"]
    assert parameters == 2 * sum(p.numel() for p in nets[0].parameters())
    import onnx

    from pipeline.emotion.half_weights import MIN_ELEMENTS

    stored = onnx.load(str(model)).graph.initializer
    weights = [w for w in stored if len(w.dims) >= 2 and np.prod(w.dims) >= MIN_ELEMENTS]
    assert weights and all(w.data_type == onnx.TensorProto.FLOAT16 for w in weights)
    assert all(w.data_type != onnx.TensorProto.FLOAT16 for w in stored if len(w.dims) < 2)
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    alone = manifest["training"]["members"][1]["valid_accuracy"]
    assert manifest["training"]["balance_beta"] == 0.5
    assert "loss weighted by (n_max / n_class) ^ 0.5 from 50% of the schedule on" in card
    assert "seed 2, 1 epoch in" in card and f"validation {alone:.2%} alone" in card

    # The weighting is applied: the same seed without it ends with other live weights
    # (last.pt, so that choosing live or averaged weights for best.pt cannot be the cause).
    unweighted = tmp_path / "seed-1-unweighted"
    main([*common, "--balance-beta", "0", "--out", str(unweighted), "--seed", "1"])
    plain_net = torch.load(unweighted / "last.pt", map_location="cpu", weights_only=False)
    weighted_net = torch.load(runs[0] / "last.pt", map_location="cpu", weights_only=False)
    assert not torch.allclose(
        plain_net["model"]["head.weight"], weighted_net["model"]["head.weight"]
    )

    other = torch.load(runs[1] / "best.pt", map_location="cpu", weights_only=False)
    other["config"]["mix_prob"] = 0.0
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="share one recipe"):
        export_checkpoint([runs[0] / "best.pt", tmp_path / "other.pt"], tmp_path / "refused")


def test_weighted_run_ships_its_last_epoch(tmp_path: Path) -> None:
    """With class-balanced weights best.pt holds the last epoch, trained with the weighting,
    not the first most accurate one (for this seed, epoch 2: before the weighting began)."""
    from pipeline.emotion.train import main

    args = ["--limit", "128", "--batch-size", "64", "--widths", "8,16,16,16", "--blocks", "1"]
    args += ["--epochs", "3", "--balance-beta", "1", "--balance-from", "0.6", "--seed", "3"]
    main([*args, "--out", str(tmp_path)])
    best = torch.load(tmp_path / "best.pt", map_location="cpu", weights_only=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert best["state"]["epoch"] == 3
    assert best["state"]["best_acc"] == log[-1]["valid_majority_acc"]
    # An earlier, unweighted epoch scores at least as well: choosing by accuracy keeps it.
    assert max(r["valid_majority_acc"] for r in log[:-1]) >= log[-1]["valid_majority_acc"]

    # Resuming the finished run trains nothing more; resuming it with other settings is
    # refused with a one-line error (exit 2) instead of training the rest another way.
    main([*args, "--out", str(tmp_path)])
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 3
    with pytest.raises(SystemExit) as refused:
        main([*args, "--balance-beta", "0", "--out", str(tmp_path)])
    assert refused.value.code == 2
    with pytest.raises(SystemExit) as invalid:
        main([*args, "--balance-from", "1", "--out", str(tmp_path / "other")])
    assert invalid.value.code == 2


def test_mixed_faces_carry_the_share_of_votes_they_show() -> None:
    """CutMix and mixup: each face's target weights the votes of the two faces it was made of
    by the share each contributes, so the pixel mean of a face made of flat faces is the
    target-weighted mean of their grey levels."""
    from pipeline.emotion.augment import mix_batch

    n = 8
    grey = torch.linspace(0.05, 0.95, n)
    x = grey.view(n, 1, 1, 1).expand(n, 1, 48, 48).clone()
    y = torch.eye(n)
    branches = set()
    for seed in range(12):
        mixed_x, mixed_y = mix_batch(x, y, torch.Generator().manual_seed(seed))
        assert mixed_x.shape == x.shape and mixed_y.shape == y.shape
        assert torch.allclose(mixed_y.sum(dim=1), torch.ones(n))
        assert torch.allclose(mixed_x.mean(dim=(1, 2, 3)), mixed_y @ grey, atol=1e-5)
        flat = bool((mixed_x.amax(dim=(1, 2, 3)) - mixed_x.amin(dim=(1, 2, 3)) < 1e-6).all())
        branches.add("mixup" if flat else "cutmix")
    assert branches == {"mixup", "cutmix"}


def test_class_balanced_loss_weights_each_face_by_its_votes() -> None:
    """Deferred re-weighting's loss: class weights (n_max / n_c) ** beta from the majority
    labels; a face counts by its vote distribution's weight; beta 0 is the plain loss."""
    import numpy as np

    from pipeline.emotion.balance import class_weights, soft_cross_entropy

    labels = np.array([0] * 90 + [1] * 10 + [-1] * 5)
    weights = class_weights(labels, beta=1.0)
    assert weights[0] == 1.0 and weights[1] == 9.0 and weights[2] == 90.0  # unseen: count 1
    assert torch.equal(class_weights(labels, beta=0.0), torch.ones(8))
    assert torch.allclose(class_weights(labels, beta=0.5)[1], torch.tensor(3.0))

    logits = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    targets = torch.zeros(3, 8)
    targets[0, 0] = 1.0
    targets[1, 1] = 1.0
    targets[2, 0] = targets[2, 1] = 0.5
    per_face = -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1)
    assert torch.allclose(soft_cross_entropy(logits, targets), per_face.mean())
    assert torch.allclose(soft_cross_entropy(logits, targets, torch.ones(8)), per_face.mean())
    face_weights = torch.tensor([1.0, 9.0, 5.0])
    expected = (per_face * face_weights).sum() / face_weights.sum()
    assert torch.allclose(soft_cross_entropy(logits, targets, weights), expected)


def test_half_weights_shrink_matrices_only_and_keep_what_float16_cannot_hold(
    tmp_path: Path,
) -> None:
    """Weight matrices are stored as float16 and widened on load; vectors (a 300-long bias
    here) and a matrix beyond float16's range stay float32, and the graph computes the same."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from pipeline.emotion.half_weights import store_weights_as_half

    rng = np.random.default_rng(0)
    tensors = {
        "bias": rng.normal(size=300).astype(np.float32),
        "w": rng.normal(size=(300, 4)).astype(np.float32),
        "huge": np.full((4, 80), 1e6, dtype=np.float32),
    }
    nodes = [
        helper.make_node("Add", ["x", "bias"], ["h"]),
        helper.make_node("MatMul", ["h", "w"], ["z"]),
        helper.make_node("MatMul", ["z", "huge"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 300])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 80])],
        [numpy_helper.from_array(v, k) for k, v in tensors.items()],
    )
    path = tmp_path / "g.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(path))
    x = rng.normal(size=(1, 300)).astype(np.float32)
    before = ort.InferenceSession(str(path)).run(None, {"x": x})[0]

    assert store_weights_as_half(path) == 1
    stored = {w.name: w.data_type for w in onnx.load(str(path)).graph.initializer}
    assert stored == {
        "bias": TensorProto.FLOAT,
        "w_float16": TensorProto.FLOAT16,
        "huge": TensorProto.FLOAT,
    }
    after = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    assert np.allclose(after, before, rtol=2e-3)


_TINY = ["--limit", "128", "--batch-size", "64", "--widths", "8,16,16,16", "--blocks", "1"]
_TINY += ["--epochs", "1", "--mix-prob", "0.5", "--ema-decay", "0.9"]


@pytest.fixture(scope="module")
def mixed_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny unweighted run, a tiny class-balanced one, and both exported as one graph with
    the per-class bias: the teacher of the distillation tests."""
    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.train import main

    root = tmp_path_factory.mktemp("mixed")
    general, specialist = root / "general", root / "specialist"
    main([*_TINY, "--out", str(general), "--seed", "1"])
    main([*_TINY, "--out", str(specialist), "--seed", "2", "--balance-beta", "1"])
    teacher = export_checkpoint(
        [general / "best.pt", specialist / "best.pt"], root / "teacher", adjust_rare="per-class"
    )
    return {"root": root, "general": general, "specialist": specialist, "teacher": teacher}


def _tiny_net(run: Path):
    from pipeline.emotion.network import ExpressionNet

    checkpoint = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    net = ExpressionNet((8, 16, 16, 16), 1)
    net.load_state_dict(checkpoint["model"])
    return net.eval()


def test_specialist_mix_takes_the_rare_columns_from_the_weighted_member(
    ferplus_valid, mixed_runs: dict[str, Path]
) -> None:
    """An unweighted and a class-balanced run export as one SpecialistMix: the general member's
    log-probabilities with contempt, disgust and fear from the specialist, flip-averaged, over
    a temperature fitted on the mix itself, plus the per-class bias chosen on the fold (rare
    classes only)."""
    import numpy as np
    from torch.nn import functional as F

    from pipeline.emotion.classifier import ExpressionClassifier
    from pipeline.emotion.holdout import RARE_CLASSES
    from pipeline.emotion.labels import LABELS
    from pipeline.emotion.metrics import fit_temperature
    from pipeline.emotion.network import SpecialistMix
    from pipeline.emotion.train import predict_logits

    manifest = json.loads(mixed_runs["teacher"].with_suffix(".json").read_text())
    assert manifest["architecture"]["combined"] == (
        "the unweighted network's log-probabilities, with those of contempt, disgust, fear "
        "taken from the class-balanced specialist's"
    )
    assert [m["role"] for m in manifest["training"]["members"]] == ["general", "specialist"]
    adjustment = manifest["logit_adjustment"]
    assert adjustment["tau"] is None and adjustment["rule_name"] == "per-class"
    rare = [LABELS.index(name) for name in RARE_CLASSES]
    bias = np.array([adjustment["bias"][name] for name in LABELS])
    assert all(bias[i] == 0.0 for i in range(len(LABELS)) if i not in rare)

    general, specialist = _tiny_net(mixed_runs["general"]), _tiny_net(mixed_runs["specialist"])
    mix = SpecialistMix([general], [specialist], rare).eval()
    labels = ferplus_valid.majority_labels()
    expected_temperature = fit_temperature(
        predict_logits(mix, ferplus_valid.images, torch.device("cpu")), labels
    )
    assert manifest["temperature"] == pytest.approx(expected_temperature)
    faces = ferplus_valid.images[:64]
    x = torch.from_numpy(faces.astype(np.float32) / 255.0).unsqueeze(1)
    with torch.no_grad():
        views = []
        for view in (x, torch.flip(x, dims=[3])):
            mixed = F.log_softmax(general(view), dim=1)
            mixed[:, rare] = F.log_softmax(specialist(view), dim=1)[:, rare]
            views.append(mixed)
        scores = 0.5 * (views[0] + views[1]) / expected_temperature + torch.from_numpy(bias)
    expected = torch.softmax(scores, dim=1).numpy()
    got = ExpressionClassifier(mixed_runs["teacher"], mirror_below=EVERY_FACE).predict_proba(
        list(faces)
    )
    assert np.allclose(got, expected, atol=2e-3)
    card = (mixed_runs["teacher"].parent / "MODEL_CARD.md").read_text()
    assert "specialist, seed 2" in card and "the specialists' loss weighted" in card


def test_int8_export_is_calibrated_on_its_own_scores_and_compared_with_float32(
    ferplus_valid, mixed_runs: dict[str, Path], tmp_path: Path
) -> None:
    """With --int8 the mix ships quantized: its convolutions run in int8, and its temperature
    and per-class bias are fitted on the quantized graph's own scores and written in after
    quantizing, so the classifier gives softmax(the file's own uncalibrated scores of both
    views, averaged, / T + bias), and those scores are the float32 mix's within int8
    rounding. The manifest and card compare it with the same graph in float32."""
    import numpy as np
    import onnx
    import onnxruntime

    from pipeline.emotion.adjust import choose_rare_bias
    from pipeline.emotion.classifier import ExpressionClassifier
    from pipeline.emotion.export import _write_int8_onnx, export_checkpoint
    from pipeline.emotion.ferplus import default_dataset_dir, load_split
    from pipeline.emotion.holdout import RARE_CLASSES, holdout_mask
    from pipeline.emotion.labels import LABELS
    from pipeline.emotion.metrics import fit_temperature
    from pipeline.emotion.network import SpecialistMix
    from pipeline.emotion.preprocess import to_model_input
    from pipeline.emotion.quantize import calibration_faces, is_quantized
    from pipeline.emotion.train import predict_logits

    runs = [mixed_runs["general"] / "best.pt", mixed_runs["specialist"] / "best.pt"]
    model = export_checkpoint(runs, tmp_path / "int8", adjust_rare="per-class", int8=True)
    manifest = json.loads(model.with_suffix(".json").read_text())
    assert manifest["architecture"]["precision"] == "int8" and is_quantized(model)
    assert not is_quantized(mixed_runs["teacher"])  # the float32 export of the same runs
    kernels = [w for w in onnx.load(str(model)).graph.initializer if len(w.dims) == 4]
    assert kernels and all(w.data_type == onnx.TensorProto.INT8 for w in kernels)

    rare = [LABELS.index(name) for name in RARE_CLASSES]
    mix = SpecialistMix(
        [_tiny_net(mixed_runs["general"])], [_tiny_net(mixed_runs["specialist"])], rare
    )
    uncalibrated = tmp_path / "uncalibrated.onnx"
    train = load_split("train", default_dataset_dir())
    _write_int8_onnx(mix.eval(), uncalibrated, calibration_faces(train))
    session = onnxruntime.InferenceSession(str(uncalibrated), providers=["CPUExecutionProvider"])

    def int8_scores(images: np.ndarray) -> np.ndarray:
        """The one-view graph's scores of the faces averaged with their mirror images'."""
        views = []
        for x in (to_model_input(images), to_model_input(images[:, :, ::-1])):
            views.append(
                np.concatenate(
                    [session.run(None, {"faces": x[i : i + 512]})[0] for i in range(0, len(x), 512)]
                )
            )
        return 0.5 * (views[0] + views[1])

    scores = int8_scores(ferplus_valid.images)
    float_scores = predict_logits(mix, ferplus_valid.images, torch.device("cpu"))
    assert np.corrcoef(scores.ravel(), float_scores.ravel())[0, 1] > 0.99
    assert not np.allclose(scores, float_scores, atol=1e-4)  # rounded: not the float graph
    assert manifest["temperature"] == pytest.approx(
        fit_temperature(scores, ferplus_valid.majority_labels()), rel=1e-4
    )
    # The bias is the per-class rule's choice on the int8 graph's fold scores.
    fold = holdout_mask(train)
    fold_probs = torch.softmax(
        torch.from_numpy(int8_scores(train.images[fold]) / manifest["temperature"]), dim=1
    ).numpy()
    bias = np.array([manifest["logit_adjustment"]["bias"][name] for name in LABELS])
    chosen, _, _ = choose_rare_bias(fold_probs, train.majority_labels()[fold])
    assert np.allclose(bias, chosen)
    expected = torch.softmax(
        torch.from_numpy(scores[:64] / manifest["temperature"] + bias), dim=1
    ).numpy()
    both = ExpressionClassifier(model, mirror_below=EVERY_FACE)  # both views, as the scores
    got = both.predict_proba(ferplus_valid.images[:64])
    assert np.allclose(got, expected, atol=1e-4)

    # The comparison is with the float32 mix under the same calibration, face by face (the
    # float32 file stores float16 weights, which may tip a near tie).
    compared = manifest["int8_vs_float32"]
    labels = ferplus_valid.majority_labels()
    int8_top = both.predict_proba(ferplus_valid.images).argmax(axis=1)
    float_top = (float_scores / manifest["temperature"] + bias).argmax(axis=1)
    assert compared["same_top_expression"] == pytest.approx(
        (int8_top == float_top).mean(), abs=2e-3
    )
    scored = labels >= 0
    float_accuracy = (float_top[scored] == labels[scored]).mean()
    assert compared["float32"]["accuracy"] == pytest.approx(float_accuracy, abs=2e-3)
    assert compared["int8"]["accuracy"] == pytest.approx(manifest["validation"]["accuracy"])
    assert compared["accuracy_change_points"] == pytest.approx(
        100 * (compared["int8"]["accuracy"] - float_accuracy), abs=0.2
    )
    card = (model.parent / "MODEL_CARD.md").read_text()
    assert "int8 against the same graph in float32" in card and "weights int8" in card


def test_specialists_must_share_the_general_members_recipe(
    mixed_runs: dict[str, Path], tmp_path: Path
) -> None:
    from pipeline.emotion.export import export_checkpoint

    other = torch.load(mixed_runs["specialist"] / "best.pt", map_location="cpu", weights_only=False)
    other["config"]["mix_prob"] = 0.0
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="specialists must share"):
        export_checkpoint([mixed_runs["general"] / "best.pt", tmp_path / "other.pt"], tmp_path)


def test_a_student_learns_from_its_teacher_and_ships_beside_the_specialist(
    mixed_runs: dict[str, Path], tmp_path: Path
) -> None:
    """The student's targets blend the votes with the teacher's probabilities, cached by the
    teacher's sha256; resuming it with another teacher weight is refused; it can ship beside
    the specialist, and the card says which members were distilled."""
    import numpy as np

    from pipeline.emotion.distill import TARGETS_FILE
    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.train import main

    teacher = mixed_runs["teacher"]
    manifest = json.loads(teacher.with_suffix(".json").read_text())
    student = tmp_path / "student"
    main([*_TINY, "--out", str(student), "--seed", "1", "--teacher", str(teacher)])
    with np.load(student / TARGETS_FILE) as cached:
        assert str(cached["sha256"]) == manifest["sha256"]
        assert cached["probabilities"].shape == (128, 8)
    config = torch.load(student / "best.pt", map_location="cpu", weights_only=False)["config"]
    assert config["teacher"] == {
        "sha256": manifest["sha256"],
        "weight": 0.5,
        "holdout_in_training": False,
    }
    # Same seed and data as the general member: only the targets differ, and so do the weights.
    trained = torch.load(student / "last.pt", map_location="cpu", weights_only=False)["model"]
    plain = torch.load(mixed_runs["general"] / "last.pt", map_location="cpu", weights_only=False)[
        "model"
    ]
    assert not torch.allclose(trained["head.weight"], plain["head.weight"])
    with pytest.raises(SystemExit) as refused:
        main([*_TINY, "--out", str(student), "--seed", "1", "--teacher", str(teacher),
              "--teacher-weight", "0.7", "--epochs", "2"])  # fmt: skip
    assert refused.value.code == 2

    export_checkpoint(
        [student / "best.pt", mixed_runs["specialist"] / "best.pt"], tmp_path / "pair"
    )
    pair = json.loads((tmp_path / "pair" / "emotion.json").read_text())
    assert pair["training"]["teacher"]["sha256"] == manifest["sha256"]
    assert [m["teacher_sha256"] for m in pair["training"]["members"]] == [manifest["sha256"], None]
    assert pair["training"]["balance_beta"] == 1.0
    card = (tmp_path / "pair" / "MODEL_CARD.md").read_text()
    assert "the general members distilled: targets blend the votes with 50%" in card


def test_a_run_from_before_distillation_is_not_resumed_with_a_teacher(
    mixed_runs: dict[str, Path], tmp_path: Path
) -> None:
    """A checkpoint written before the teacher setting existed trained on the votes alone."""
    import shutil

    from pipeline.emotion.distill import TARGETS_FILE
    from pipeline.emotion.train import main

    old = tmp_path / "old"
    shutil.copytree(mixed_runs["general"], old)
    checkpoint = torch.load(old / "last.pt", map_location="cpu", weights_only=False)
    del checkpoint["config"]["teacher"]
    torch.save(checkpoint, old / "last.pt")
    with pytest.raises(SystemExit) as refused:
        main([*_TINY, "--out", str(old), "--seed", "1", "--epochs", "2",
              "--teacher", str(mixed_runs["teacher"])])  # fmt: skip
    assert refused.value.code == 2
    assert not (old / TARGETS_FILE).exists()  # refused before the teacher scored anything


def test_teacher_targets_are_reused_only_for_the_same_teacher_and_faces(
    mixed_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ferplus_valid
) -> None:
    import numpy as np

    from pipeline.emotion import distill

    calls = []
    real = distill.ExpressionClassifier

    class Counting(real):
        def predict_proba(self, faces):
            calls.append(len(faces))
            return super().predict_proba(faces)

    monkeypatch.setattr(distill, "ExpressionClassifier", Counting)
    faces = ferplus_valid.images[:40]
    first = distill.teacher_probabilities(mixed_runs["teacher"], faces, tmp_path)
    again = distill.teacher_probabilities(mixed_runs["teacher"], faces, tmp_path)
    assert calls == [40] and (first == again).all()
    reordered = distill.teacher_probabilities(mixed_runs["teacher"], faces[::-1], tmp_path)
    assert calls == [40, 40]
    assert np.allclose(reordered, first[::-1], atol=1e-6)


def test_a_checkpoint_that_fails_to_write_leaves_the_previous_one(tmp_path: Path) -> None:
    """A run resumes from last.pt; one killed or failing while writing it must keep the
    previous epoch's file whole (torch.save straight onto it left a truncated file)."""
    from pipeline.emotion.train import save_checkpoint

    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1, "weights": torch.ones(3)}, path)
    with pytest.raises(Exception, match="pickle"):
        save_checkpoint({"epoch": 2, "weights": torch.zeros(3), "bad": lambda: None}, path)
    saved = torch.load(path, weights_only=False)
    assert saved["epoch"] == 1 and torch.equal(saved["weights"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_a_recovered_checkpoint_computes_what_the_model_file_computes(
    ferplus_valid, mixed_runs: dict[str, Path], tmp_path: Path
) -> None:
    """A checkpoint rebuilt from an exported file (pipeline/emotion/recover.py) gives the
    file's probabilities under the file's calibration: exactly for a float export (float16
    weights, batch normalisation folded in), within int8 rounding for an int8 one. Exported
    again, its manifest and card say where the weights came from; an ensemble is refused."""
    import numpy as np

    from pipeline.emotion.classifier import ExpressionClassifier
    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.labels import LABELS
    from pipeline.emotion.quantize import is_quantized
    from pipeline.emotion.recover import RecoveryError, recover_checkpoint
    from pipeline.emotion.recover import main as recover_main
    from pipeline.emotion.train import predict_views

    faces = ferplus_valid.images[:256]
    general = mixed_runs["general"] / "best.pt"

    def recovered_probs(model: Path) -> np.ndarray:
        checkpoint = recover_checkpoint(model, tmp_path / model.parent.name / "best.pt")
        net = _tiny_net(checkpoint.parent)
        manifest = json.loads(model.with_suffix(".json").read_text())
        bias = np.array(
            [
                ((manifest.get("logit_adjustment") or {}).get("bias") or {}).get(n, 0.0)
                for n in LABELS
            ]
        )
        plain, mirrored = predict_views(net, faces, torch.device("cpu"))
        return torch.softmax(
            torch.from_numpy(0.5 * (plain + mirrored) / manifest["temperature"] + bias), dim=1
        ).numpy()

    float_model = export_checkpoint(general, tmp_path / "float")
    # Both views of every face, as the recovered network is scored.
    shipped = ExpressionClassifier(float_model, mirror_below=EVERY_FACE).predict_proba(faces)
    assert np.allclose(recovered_probs(float_model), shipped, atol=1e-4)

    int8_model = export_checkpoint(general, tmp_path / "int8", int8=True)
    assert is_quantized(int8_model)
    shipped = ExpressionClassifier(int8_model, mirror_below=EVERY_FACE).predict_proba(faces)
    recovered = recovered_probs(int8_model)
    # The file computes in int8 and the recovery in float32 from the same weights: measured
    # 0.0002 at most and every top expression the same on this tiny network.
    assert np.abs(recovered - shipped).max() < 0.01
    assert (recovered.argmax(axis=1) != shipped.argmax(axis=1)).sum() <= 2

    again = export_checkpoint(tmp_path / "int8" / "best.pt", tmp_path / "again")
    member = json.loads(again.with_suffix(".json").read_text())["training"]["members"][0]
    source = json.loads(int8_model.with_suffix(".json").read_text())
    assert member["recovered_from"] == {
        "version": source["version"],
        "sha256": source["sha256"],
        "precision": "int8",
    }
    card = (again.parent / "MODEL_CARD.md").read_text()
    assert f"recovered from the int8 graph of model {source['version']}" in card

    with pytest.raises(RecoveryError, match="single-network"):
        recover_checkpoint(mixed_runs["teacher"], tmp_path / "ensemble" / "best.pt")
    with pytest.raises(SystemExit) as refused:  # the command line: one line, exit 2
        recover_main([str(tmp_path / "none.onnx"), str(tmp_path / "none.pt")])
    assert refused.value.code == 2


def test_a_fine_tune_starts_from_a_recovered_network_and_says_so(
    ferplus_valid, mixed_runs: dict[str, Path], tmp_path: Path
) -> None:
    """``train --init`` starts from a checkpoint's weights (pipeline/emotion/finetune.py). A
    recovered network's batch normalisations are identities, which training mode would turn
    into another function; re-expressed around measured statistics they compute the same in
    evaluation mode and nearly the same in training mode. The run records its start, export
    and card say what it was fine-tuned from, and a start of other widths is refused."""
    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.finetune import restore_batch_statistics
    from pipeline.emotion.preprocess import to_model_input
    from pipeline.emotion.recover import recover_checkpoint
    from pipeline.emotion.train import main

    exported = export_checkpoint(mixed_runs["general"] / "best.pt", tmp_path / "float")
    # Written as before ensembles (model 2026.12.01): the one network's seed, epochs and
    # minutes at the top of "training", no list of members.
    manifest = json.loads(exported.with_suffix(".json").read_text())
    (member,) = manifest["training"].pop("members")
    manifest["training"].update({k: member[k] for k in ("seed", "epochs", "train_minutes")})
    exported.with_suffix(".json").write_text(json.dumps(manifest))
    start = recover_checkpoint(exported, tmp_path / "recovered" / "best.pt")
    faces = torch.from_numpy(to_model_input(ferplus_valid.images[:256]))

    net, untouched = _tiny_net(start.parent), _tiny_net(start.parent)
    net.dropout.p = untouched.dropout.p = 0.0
    with torch.no_grad():
        before = net(faces)
        # The identities now divide by the batch's own statistics.
        as_recovered = untouched.train()(faces)
        restore_batch_statistics(net, faces)
        after = net(faces)
        in_training = net.train()(faces)
    assert torch.allclose(after, before, atol=1e-4)
    drift, naive_drift = (in_training - before).abs().mean(), (as_recovered - before).abs().mean()
    assert drift < 1e-3 < naive_drift

    run = tmp_path / "tuned"
    tune = [*_TINY, "--out", str(run), "--seed", "3", "--init", str(start), "--lr", "0"]
    main(tune)
    tuned = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    recovered = torch.load(start, map_location="cpu", weights_only=False)
    # At a learning rate of 0 the convolutions stay the recovered ones, in the live weights
    # and in their average (made from the start, not from random weights); the batch
    # normalisations' scales are the re-expressed ones, no longer the identities'.
    for name, value in recovered["model"].items():
        if name.endswith("conv1.weight") or name == "head.weight":
            assert torch.equal(tuned["model"][name], value), name
            assert torch.equal(tuned["ema"][f"module.{name}"], value), name
    assert not torch.allclose(tuned["model"]["stem.1.weight"], recovered["model"]["stem.1.weight"])
    init = tuned["config"]["init"]
    assert (init["epochs"], init["seed"], init["holdout_in_training"]) == (1, 1, False)
    assert init["recovered_from"]["sha256"] == manifest["sha256"]
    other_start = [*tune, "--init", str(mixed_runs["general"] / "best.pt"), "--epochs", "2"]
    wider = [*tune, "--widths", "8,16,16,32", "--out", str(tmp_path / "wider")]
    # Another start for a run under way, a model file instead of a checkpoint, other widths
    # (argparse keeps the last of a repeated option).
    for refused_args in (other_start, [*tune, "--init", str(exported)], wider):
        with pytest.raises(SystemExit) as refused:
            main(refused_args)
        assert refused.value.code == 2
    assert not (tmp_path / "wider" / "last.pt").exists()

    again = export_checkpoint(run / "best.pt", tmp_path / "again")
    member = json.loads(again.with_suffix(".json").read_text())["training"]["members"][0]
    assert member["fine_tuned_from"] == init
    card = (again.parent / "MODEL_CARD.md").read_text()
    assert "fine-tune a network of the same widths that had trained 1 epoch" in card
    # Recovered and exported once more, it still says where its training began.
    twice = recover_checkpoint(again, tmp_path / "twice" / "best.pt")
    assert torch.load(twice, weights_only=False)["config"]["init"] == init


def test_a_pruned_network_keeps_the_channels_that_are_read(
    ferplus_valid, mixed_runs: dict[str, Path], tmp_path: Path
) -> None:
    """``prune`` cuts a narrower network out of a trained one (pipeline/emotion/prune.py).
    Channels whose readers' weights are zero change nothing downstream, so once half of a
    stage's channels are unread, cutting them gives exactly the wide network's logits (a
    wrong choice would not). A fine-tune started from the cut network says so in its card;
    widths that are no narrowing are refused with one line."""
    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.preprocess import to_model_input
    from pipeline.emotion.prune import main as prune_main
    from pipeline.emotion.train import main

    source = torch.load(mixed_runs["general"] / "best.pt", map_location="cpu", weights_only=False)
    assert source["config"]["widths"] == [8, 16, 16, 16]
    state = source["model"]
    unread = torch.arange(0, 16, 2)  # every other channel of stages 1 and 3
    state["stages.1.conv2.weight"][:, unread] = 0.0  # the block's inner channels
    state["stages.2.conv1.weight"][:, unread] = 0.0  # stage 1's residual stream...
    state["stages.2.shortcut.0.weight"][:, unread] = 0.0  # ...read through both paths
    state["stages.3.conv2.weight"][:, unread] = 0.0
    state["head.weight"][:, unread] = 0.0
    wide_path = tmp_path / "wide.pt"
    torch.save(source, wide_path)
    wide = _tiny_net_from(source, (8, 16, 16, 16))

    narrow_path = tmp_path / "narrow" / "start.pt"
    prune_main([str(wide_path), "--widths", "8,8,16,8", "--out", str(narrow_path)])
    narrow_checkpoint = torch.load(narrow_path, map_location="cpu", weights_only=False)
    narrow = _tiny_net_from(narrow_checkpoint, (8, 8, 16, 8))
    assert narrow_checkpoint["config"]["pruned_from"]["widths"] == [8, 16, 16, 16]
    # Equal logits: every channel cut was unread or never active (a tiny network has some
    # of those, which a cut may equally drop); cutting a live, read channel would move them.
    faces = torch.from_numpy(to_model_input(ferplus_valid.images[:256]))
    with torch.no_grad():
        assert torch.allclose(narrow(faces), wide(faces), atol=1e-5)
    # Unchanged widths keep every channel, in order: the same network.
    same_path = tmp_path / "same.pt"
    prune_main([str(wide_path), "--widths", "8,16,16,16", "--out", str(same_path)])
    same = torch.load(same_path, map_location="cpu", weights_only=False)["model"]
    assert all(torch.equal(same[name], value) for name, value in state.items())

    # Exported as cut, the card says the epochs are the wider network's.
    cut_card = export_checkpoint(narrow_path, tmp_path / "cut").parent / "MODEL_CARD.md"
    assert "cut to these widths from the channels of that wider network (widths 8-16-16-16" in (
        cut_card.read_text()
    )

    run = tmp_path / "tuned"
    tune = [*_TINY, "--widths", "8,8,16,8", "--out", str(run), "--init", str(narrow_path)]
    main([*tune, "--lr", "0"])
    card = export_checkpoint(run / "best.pt", tmp_path / "export").parent / "MODEL_CARD.md"
    assert "fine-tune a network cut from the channels of a wider one (widths 8-16-16-16" in (
        card.read_text()
    )
    assert "exported without training since" not in card.read_text()
    # Wider than the source; a stage short; a model file instead of a checkpoint.
    for source_path, widths in (
        (wide_path, "8,32,16,8"),
        (wide_path, "8,16,16"),
        (mixed_runs["teacher"], "8,8,16,8"),
    ):
        with pytest.raises(SystemExit) as refused:
            prune_main([str(source_path), "--widths", widths, "--out", str(tmp_path / "x.pt")])
        assert refused.value.code == 2
    assert not (tmp_path / "x.pt").exists()


def test_a_head_refitted_for_balanced_classes_is_chosen_on_the_fold(
    mixed_runs: dict[str, Path], tmp_path: Path
) -> None:
    """``rebalance`` re-fits only the head (pipeline/emotion/rebalance.py), keeps the grid's
    pair with the best class-mix fold accuracy, and that figure is the saved network's own
    (recomputed through the whole network); a class-balanced re-fit moves the bias towards the
    rare expressions; the card says so; a network that trained on the fold is refused."""
    from itertools import product

    import numpy as np

    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.ferplus import load_split
    from pipeline.emotion.holdout import holdout_mask, natural_accuracy, training_rows
    from pipeline.emotion.labels import LABELS
    from pipeline.emotion.rebalance import BETAS, PULLS, pooled_features, refit_head
    from pipeline.emotion.rebalance import main as rebalance_main
    from pipeline.emotion.train import predict_logits

    source = mixed_runs["general"] / "best.pt"
    out = tmp_path / "rebalanced" / "best.pt"
    rebalance_main([str(source), "--out", str(out)])
    before = torch.load(source, map_location="cpu", weights_only=False)
    after = torch.load(out, map_location="cpu", weights_only=False)
    for name, value in before["model"].items():
        if not name.startswith("head."):
            assert torch.equal(after["model"][name], value), name
    record = after["config"]["head_refit"]
    assert {(row["beta"], row["pull"]) for row in record["grid"]} == set(product(BETAS, PULLS))
    best = max(row["fold_accuracy"] for row in record["grid"])
    assert record["fold_accuracy"] == max(best, record["fold_accuracy_before"])
    train = load_split("train")
    fold = holdout_mask(train)
    labels = train.majority_labels()[fold]
    net = _tiny_net_from(after, (8, 16, 16, 16))
    logits = predict_logits(net, train.images[fold], torch.device("cpu"))
    assert natural_accuracy(logits, labels) == pytest.approx(record["fold_accuracy"], abs=1e-4)

    # Weighting the rare expressions' votes raises their bias against neutral's.
    wide = _tiny_net_from(before, (8, 16, 16, 16))
    rows = np.flatnonzero(training_rows(train))[:3000]
    head = (wide.head.weight.detach().numpy(), wide.head.bias.detach().numpy())
    features = pooled_features(wide, train.images[rows])
    votes, majority = train.vote_distribution()[rows], train.majority_labels()[rows]
    neutral = LABELS.index("neutral")
    gaps = {}
    for beta in (0.0, 2.0):
        _, bias = refit_head(features, votes, majority, head, beta, pull=1.0)
        gaps[beta] = [bias[LABELS.index(name)] - bias[neutral] for name in ("contempt", "disgust")]
    assert all(b > a for a, b in zip(gaps[0.0], gaps[2.0], strict=True)), gaps

    card = export_checkpoint(out, tmp_path / "export").parent / "MODEL_CARD.md"
    text = card.read_text()
    said = "the trained head ships" if record["kept_trained_head"] else "head was re-fitted"
    assert said in text
    saw = {**before, "config": {**before["config"], "holdout_in_training": True}}
    torch.save(saw, tmp_path / "saw.pt")
    with pytest.raises(SystemExit) as refused:
        rebalance_main([str(tmp_path / "saw.pt"), "--out", str(tmp_path / "x.pt")])
    assert refused.value.code == 2 and not (tmp_path / "x.pt").exists()


def _tiny_net_from(checkpoint: dict, widths: tuple[int, ...]):
    from pipeline.emotion.network import ExpressionNet

    net = ExpressionNet(widths, 1)
    net.load_state_dict(checkpoint["model"])
    return net.eval()


def test_a_cut_through_the_stem_and_a_stage_of_two_blocks_keeps_the_function(ferplus_valid) -> None:
    """The cut where the residual stream passes identity shortcuts: the stem's first layer,
    the stem's output that a whole stage of two blocks adds to, and those blocks' own
    channels. Half of the stem's first channels never fire (their readers are not zero, so
    a ranking by weights alone keeps some of them), half of the stage's residual channels
    and of each block's channels are unread: cut to those widths, the logits stay exact."""
    from pipeline.emotion.network import ExpressionNet
    from pipeline.emotion.preprocess import to_model_input
    from pipeline.emotion.prune import prune

    torch.manual_seed(5)
    wide = ExpressionNet((8, 16, 16, 16), 2).eval()
    state = wide.state_dict()
    state["stem.1.bias"][0::2] = -1e4  # never above zero after the ReLU
    for reader in ("stages.0.conv1", "stages.1.conv1", "stages.2.conv1", "stages.2.shortcut.0"):
        state[f"{reader}.weight"][:, 1::2] = 0.0  # the stage's residual channels 1, 3, 5, 7
    for block in ("stages.0", "stages.1"):
        state[f"{block}.conv2.weight"][:, 0::2] = 0.0  # each block's channels 0, 2, 4, 6
    wide.load_state_dict(state)
    checkpoint = {"model": state, "config": {"widths": [8, 16, 16, 16], "blocks": 2}}
    faces = torch.from_numpy(to_model_input(ferplus_valid.images[:256]))
    narrow = prune(checkpoint, (4, 16, 16, 16), faces)
    cut = narrow.state_dict()
    assert torch.equal(cut["stem.0.weight"], state["stem.0.weight"][1::2])
    assert torch.equal(cut["stem.3.weight"], state["stem.3.weight"][0::2][:, 1::2])
    assert torch.equal(cut["stages.1.conv2.weight"], state["stages.1.conv2.weight"][0::2][:, 1::2])
    with torch.no_grad():
        assert torch.allclose(narrow(faces), wide(faces), atol=1e-4)
