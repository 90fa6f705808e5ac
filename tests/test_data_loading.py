"""utils/data_loading.py: every image and mask kind, class mapping, augmentation, the split, bad input."""
import numpy as np
import pytest
import torch
from PIL import Image

from utils.data_loading import (IMAGE_EXTENSIONS, BasicDataset, image_to_tensor, load_image,
                                mask_to_classes, split_dataset)
from utils.errors import UserError
from utils.images import classes_to_mask


def make_folders(root):
    (root / "imgs").mkdir(parents=True)
    (root / "masks").mkdir()
    return root / "imgs", root / "masks"


def random_rgb(height=8, width=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def save_pair(root, name, mask, suffix="_mask", image=None, mask_ext="png"):
    """An RGB image imgs/NAME.png and its mask masks/NAME<suffix>.<ext> (mask: PIL image or array)."""
    height, width = np.asarray(mask).shape[:2]
    image = random_rgb(height, width) if image is None else image
    Image.fromarray(image).save(root / "imgs" / f"{name}.png")
    mask = mask if isinstance(mask, Image.Image) else Image.fromarray(mask)
    mask.save(root / "masks" / f"{name}{suffix}.{mask_ext}")


def classes_of(dataset, index=0):
    return dataset[index]["mask"].numpy()


# ---------------------------------------------------------------------------------------------
# Mask kinds


@pytest.mark.parametrize("foreground", [1, 255])
def test_binary_masks(tmp_path, foreground):
    images_dir, masks_dir = make_folders(tmp_path)
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 3:7] = foreground
    save_pair(tmp_path, "a", mask)
    dataset = BasicDataset(images_dir, masks_dir)
    assert dataset.mask_values == [0, foreground]
    item = dataset[0]
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 8, 10)
    assert item["mask"].dtype == torch.int64 and item["mask"].shape == (8, 10)
    np.testing.assert_array_equal(item["mask"].numpy(), (mask > 0).astype(np.int64))


def test_grey_level_masks_give_one_class_per_level(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    mask = np.array([[0, 100, 200, 100]] * 4, np.uint8)
    save_pair(tmp_path, "a", mask)
    save_pair(tmp_path, "b", np.full((4, 4), 50, np.uint8))
    dataset = BasicDataset(images_dir, masks_dir, n_classes=4)
    assert dataset.mask_values == [0, 50, 100, 200]
    np.testing.assert_array_equal(classes_of(dataset, 0), [[0, 2, 3, 2]] * 4)
    np.testing.assert_array_equal(classes_of(dataset, 1), np.ones((4, 4)))


def test_palette_masks_use_palette_indices(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    mask = Image.fromarray(np.array([[0, 2, 5], [5, 2, 0]], np.uint8), mode="P")
    mask.putpalette([0, 0, 0, 10, 10, 10, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0] + [0] * (250 * 3))
    save_pair(tmp_path, "a", mask)
    dataset = BasicDataset(images_dir, masks_dir, n_classes=3)
    assert dataset.mask_values == [0, 2, 5]
    np.testing.assert_array_equal(classes_of(dataset), [[0, 1, 2], [2, 1, 0]])


def test_colour_masks_give_one_class_per_colour(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    black, red, green = [0, 0, 0], [255, 0, 0], [0, 255, 0]
    mask = np.array([[black, red, green], [green, green, black]], np.uint8)
    save_pair(tmp_path, "a", mask)
    dataset = BasicDataset(images_dir, masks_dir, n_classes=3)
    assert dataset.mask_values == [black, green, red]  # sorted, plain lists
    np.testing.assert_array_equal(classes_of(dataset), [[0, 2, 1], [1, 1, 0]])


def test_grey_mask_saved_as_rgb_counts_as_single_channel(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    grey = np.zeros((4, 4), np.uint8)
    grey[1:3, 1:3] = 255
    save_pair(tmp_path, "a", np.stack([grey] * 3, axis=2))
    assert BasicDataset(images_dir, masks_dir).mask_values == [0, 255]


def test_mask_values_are_plain_python_for_weights_only_checkpoints(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    save_pair(tmp_path, "a", np.array([[[0, 0, 0], [9, 8, 7]]], np.uint8))
    save_pair(tmp_path, "b", np.array([[[0, 0, 0], [1, 2, 3]]], np.uint8))
    values = BasicDataset(images_dir, masks_dir, n_classes=3).mask_values
    assert values == [[0, 0, 0], [1, 2, 3], [9, 8, 7]]
    assert all(type(channel) is int for colour in values for channel in colour)
    torch.save({"mask_values": values}, tmp_path / "c.pth")
    assert torch.load(tmp_path / "c.pth", weights_only=True)["mask_values"] == values


def test_masks_that_are_all_background_still_make_a_binary_task(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    save_pair(tmp_path, "a", np.zeros((4, 4), np.uint8))
    dataset = BasicDataset(images_dir, masks_dir)
    assert dataset.mask_values == [0, 255]
    assert classes_of(dataset).sum() == 0


def test_given_mask_values_are_used_for_evaluation(tmp_path):
    # A test folder without class 1 must still map 200 to class 2, as in training.
    images_dir, masks_dir = make_folders(tmp_path)
    save_pair(tmp_path, "a", np.array([[0, 200]], np.uint8))
    dataset = BasicDataset(images_dir, masks_dir, n_classes=3, mask_values=[0, 100, 200])
    assert dataset.mask_values == [0, 100, 200]
    np.testing.assert_array_equal(classes_of(dataset), [[0, 2]])
    with pytest.raises(UserError, match=r"values \[200\] that are not among the model's mask values"):
        BasicDataset(images_dir, masks_dir, n_classes=3, mask_values=[0, 100])


# ---------------------------------------------------------------------------------------------
# Image kinds


def test_grey_rgba_and_rgb_images_become_three_channels():
    rgb = random_rgb()
    grey = rgb[:, :, 0]
    rgba = np.concatenate([rgb, np.full((8, 10, 1), 7, np.uint8)], axis=2)
    expected = torch.from_numpy(rgb.transpose(2, 0, 1) / 255.0).float()
    torch.testing.assert_close(image_to_tensor(Image.fromarray(rgb)), expected)
    torch.testing.assert_close(image_to_tensor(Image.fromarray(rgba)), expected)
    grey_tensor = image_to_tensor(Image.fromarray(grey))
    assert grey_tensor.shape == (3, 8, 10)
    for channel in range(3):
        torch.testing.assert_close(grey_tensor[channel], expected[0])


def test_image_to_tensor_scale():
    image = Image.fromarray(random_rgb(40, 60))
    tensor = image_to_tensor(image, scale=0.5)
    assert tensor.shape == (3, 20, 30)
    assert 0 <= tensor.min() and tensor.max() <= 1
    for bad_scale in (0, -1, 1.5):
        with pytest.raises(UserError, match=rf"^--scale {bad_scale}: must be in \(0, 1\]"):
            image_to_tensor(image, scale=bad_scale)
    with pytest.raises(UserError, match=r"--scale 0.01: a 60x40 image would become 0x0 pixels; use a larger"):
        image_to_tensor(image, scale=0.01)


@pytest.mark.parametrize("dtype", ["uint8", "float32", "grey"])
def test_npy_images(tmp_path, dtype):
    rgb = random_rgb()
    if dtype == "uint8":
        array = rgb
    elif dtype == "float32":
        array = rgb.astype(np.float32) / 255
    else:
        array = rgb[:, :, 0]
    np.save(tmp_path / "a.npy", array)
    tensor = image_to_tensor(load_image(tmp_path / "a.npy"))
    assert tensor.shape == (3, 8, 10)
    expected = torch.from_numpy(rgb.transpose(2, 0, 1) / 255.0).float()
    if dtype == "grey":
        expected = expected[:1].expand(3, -1, -1)
    torch.testing.assert_close(tensor, expected)


def test_npy_image_and_mask_in_a_dataset(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    np.save(images_dir / "a.npy", random_rgb().astype(np.float32) / 255)
    np.save(masks_dir / "a_mask.npy", np.eye(8, 10, dtype=np.uint8))
    dataset = BasicDataset(images_dir, masks_dir)
    assert dataset.mask_values == [0, 1]
    np.testing.assert_array_equal(classes_of(dataset), np.eye(8, 10))


def test_image_extensions_are_dotted_lower_case():
    assert IMAGE_EXTENSIONS == (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".npy")


# ---------------------------------------------------------------------------------------------
# Class indices <-> mask values


def test_mask_to_classes_and_back_round_trip():
    values = [0, 30, 255]
    mask = np.array([[0, 30], [255, 0]], np.uint8)
    classes = mask_to_classes(mask, values)
    np.testing.assert_array_equal(classes, [[0, 1], [2, 0]])
    assert classes.dtype == np.int64
    back = classes_to_mask(classes, values)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, mask)

    colours = [[0, 0, 0], [0, 0, 255], [255, 255, 0]]
    colour_mask = np.array([[[255, 255, 0], [0, 0, 0]], [[0, 0, 255], [0, 0, 255]]], np.uint8)
    colour_classes = mask_to_classes(colour_mask, colours)
    np.testing.assert_array_equal(colour_classes, [[2, 0], [1, 1]])
    np.testing.assert_array_equal(classes_to_mask(colour_classes, colours), colour_mask)


def test_unknown_mask_value_is_a_user_error():
    with pytest.raises(UserError, match=r"mask has values \[7\] that are not among the mask values \[0, 255\]"):
        mask_to_classes(np.array([[0, 7, 255]]), [0, 255])


# ---------------------------------------------------------------------------------------------
# Mask suffix, split


def test_mask_suffix_is_detected(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path / "with")
    save_pair(tmp_path / "with", "car", np.zeros((4, 4), np.uint8))
    assert BasicDataset(images_dir, masks_dir).mask_suffix == "_mask"
    images_dir, masks_dir = make_folders(tmp_path / "without")
    save_pair(tmp_path / "without", "car", np.zeros((4, 4), np.uint8), suffix="", mask_ext="gif")
    dataset = BasicDataset(images_dir, masks_dir)
    assert dataset.mask_suffix == "" and dataset.mask_files == [masks_dir / "car.gif"]


def make_set(root, count, height=8, width=8):
    images_dir, masks_dir = make_folders(root)
    for index in range(count):
        mask = np.zeros((height, width), np.uint8)
        mask[: index % height + 1] = 255
        save_pair(root, f"img{index}", mask)
    return images_dir, masks_dir


@pytest.mark.parametrize("count,percent,expected", [(5, 20, (4, 1)), (5, 10, (4, 1)), (10, 10, (9, 1)),
                                                    (10, 25, (8, 2)), (5, 0, (5, 0)), (1, 50, (1, 0))])
def test_split_sizes(tmp_path, count, percent, expected):
    images_dir, masks_dir = make_set(tmp_path, count)
    train_set, val_set, mask_values = split_dataset(images_dir, masks_dir, 1.0, None, 2, percent, 0, True)
    assert (len(train_set), len(val_set)) == expected
    assert mask_values == [0, 255]
    assert sorted(train_set.indices + val_set.indices) == list(range(count))
    assert train_set.dataset.augment is True and val_set.dataset.augment is False


def test_split_is_seeded(tmp_path):
    images_dir, masks_dir = make_set(tmp_path, 10)
    first = split_dataset(images_dir, masks_dir, 1.0, None, 2, 30, 3, False)
    again = split_dataset(images_dir, masks_dir, 1.0, None, 2, 30, 3, False)
    other = [split_dataset(images_dir, masks_dir, 1.0, None, 2, 30, seed, False)[1].indices for seed in range(5)]
    assert first[1].indices == again[1].indices
    assert len({tuple(indices) for indices in other}) > 1
    assert first[0].dataset.augment is False


@pytest.mark.parametrize("percent", [-5, 100, 150])
def test_split_rejects_bad_validation_percent(tmp_path, percent):
    images_dir, masks_dir = make_set(tmp_path, 3)
    with pytest.raises(UserError, match=rf"^--validation {percent}: must be a percentage in \[0, 100\)"):
        split_dataset(images_dir, masks_dir, 1.0, None, 2, percent, 0, True)


def test_scale_applies_to_image_and_mask(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    mask = np.zeros((20, 40), np.uint8)
    mask[:10] = 255
    save_pair(tmp_path, "a", mask)
    item = BasicDataset(images_dir, masks_dir, scale=0.5)[0]
    assert item["image"].shape == (3, 10, 20) and item["mask"].shape == (10, 20)
    np.testing.assert_array_equal(item["mask"].numpy(), np.repeat([[1], [0]], 5, axis=0) * np.ones((1, 20)))
    with pytest.raises(UserError, match=r"^--scale 0.01: a 40x20 image would become 0x0 pixels"):
        BasicDataset(images_dir, masks_dir, scale=0.01)


# ---------------------------------------------------------------------------------------------
# Augmentation


@pytest.mark.parametrize("strength", ["light", "strong"])
def test_augmentation_keeps_image_and_mask_aligned(tmp_path, strength):
    images_dir, masks_dir = make_folders(tmp_path)
    # The mask is exactly "red channel is bright": any misalignment between image and mask breaks that.
    mask = np.zeros((64, 64), np.uint8)
    mask[8:30, 4:24] = 255  # off-centre and asymmetric, so a flip or crop of only one of them shows
    mask[40:60, 36:44] = 255
    image = np.zeros((64, 64, 3), np.uint8)
    image[..., 0] = mask
    image[..., 2] = 90
    save_pair(tmp_path, "a", mask, image=image)
    dataset = BasicDataset(images_dir, masks_dir, augment=True, augmentation=strength)
    plain = BasicDataset(images_dir, masks_dir, augment=False)[0]
    torch.manual_seed(0)
    changed = 0
    for _ in range(30):
        item = dataset[0]
        red_is_bright = (item["image"][0] > item["image"][2] + 0.1).long()
        agreement = (red_is_bright == item["mask"]).float().mean().item()
        # only pixels on the edges may differ (bicubic vs nearest; strong: also blur)
        assert agreement > (0.97 if strength == "light" else 0.95)
        assert set(item["mask"].unique().tolist()) <= {0, 1}
        changed += not torch.equal(item["mask"], plain["mask"])
        assert not torch.equal(item["image"], plain["image"])  # colour jitter always changes the image
    assert changed >= 25


def test_strong_augmentation_goes_further_than_light(tmp_path):
    """Strong: larger crops change the object's size more, larger colour changes change its colour more."""
    images_dir, masks_dir = make_folders(tmp_path)
    mask = np.zeros((48, 48), np.uint8)
    mask[10:30, 6:22] = 255
    save_pair(tmp_path, "a", mask, image=np.full((48, 48, 3), (150, 100, 80), np.uint8))  # one flat colour
    colour = torch.tensor([150, 100, 80]) / 255
    spread = {}
    for strength in ("light", "strong"):
        dataset = BasicDataset(images_dir, masks_dir, augment=True, augmentation=strength)
        torch.manual_seed(0)
        items = [dataset[0] for _ in range(40)]
        areas = [item["mask"].float().mean().item() for item in items]
        # the median pixel: the image's colour, whatever black corners a rotation adds
        shifts = [(item["image"].flatten(1).median(dim=1).values - colour).abs().mean().item() for item in items]
        spread[strength] = np.std(areas), np.mean(shifts)
    assert spread["strong"][0] > 2 * spread["light"][0] and spread["strong"][1] > 1.5 * spread["light"][1]
    with pytest.raises(UserError, match="--augmentation wild: unknown; use one of light, strong"):
        BasicDataset(images_dir, masks_dir, augmentation="wild")


def test_augmentation_is_reproducible_with_torch_seed(tmp_path):
    images_dir, masks_dir = make_set(tmp_path, 1, height=32, width=32)
    dataset = BasicDataset(images_dir, masks_dir, augment=True)
    torch.manual_seed(5)
    first = dataset[0]
    torch.manual_seed(5)
    again = dataset[0]
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["mask"], again["mask"])


def test_demo_data_loads(tmp_path):
    from pathlib import Path
    data = Path(__file__).resolve().parent.parent / "data"
    train_set, val_set, mask_values = split_dataset(data / "imgs", data / "masks", 0.5, None, 2, 20, 0, True)
    assert (len(train_set), len(val_set), mask_values) == (4, 1, [0, 255])
    item = val_set[0]
    assert item["image"].shape == (3, 128, 128) and item["mask"].shape == (128, 128)
    assert 0.15 <= item["mask"].float().mean().item() <= 0.35


# ---------------------------------------------------------------------------------------------
# Bad input: one-line UserErrors naming the file or flag and the fix


def test_missing_data_folder_names_the_fix_for_the_demo_folder_or_your_own(tmp_path):
    with pytest.raises(UserError, match=r"^--data-dir .*data: folder not found; run python3 make_demo_data.py"):
        BasicDataset(tmp_path / "data" / "imgs", tmp_path / "data" / "masks")
    with pytest.raises(UserError, match=r"^--data-dir .*my_photos: folder not found; check the path: it should hold "
                                        r"imgs/ \(your images\) and masks/"):
        BasicDataset(tmp_path / "my_photos" / "imgs", tmp_path / "my_photos" / "masks")


@pytest.mark.parametrize("missing", ["imgs", "masks"])
def test_missing_imgs_or_masks_folder(tmp_path, missing):
    make_folders(tmp_path)
    (tmp_path / missing).rmdir()
    with pytest.raises(UserError, match=rf"^--data-dir {tmp_path}: no {missing}/ folder .*check the path: it should "
                                        r"hold imgs/ \(your images\) and masks/ \(their masks\)"):
        BasicDataset(tmp_path / "imgs", tmp_path / "masks")


def test_no_images(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    (images_dir / "notes.txt").write_text("not an image")
    with pytest.raises(UserError, match=r"imgs: no images found .*put your images there$"):
        BasicDataset(images_dir, masks_dir)


def test_image_without_mask(tmp_path):
    images_dir, masks_dir = make_set(tmp_path, 2)
    Image.fromarray(random_rgb()).save(images_dir / "lonely.png")
    with pytest.raises(UserError, match=r"lonely.png: no mask found \(expected .*lonely_mask.png.*add its mask"):
        BasicDataset(images_dir, masks_dir)


def test_image_with_several_masks(tmp_path):
    images_dir, masks_dir = make_set(tmp_path, 1)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(masks_dir / "img0_mask.gif")
    with pytest.raises(UserError, match=r"img0.png: several masks match \(.*img0_mask.gif, .*img0_mask.png\); "
                                        r"keep only one"):
        BasicDataset(images_dir, masks_dir)


def test_two_images_with_one_name(tmp_path):
    images_dir, masks_dir = make_set(tmp_path, 1)
    Image.fromarray(random_rgb(8, 8)).save(images_dir / "img0.jpg")
    with pytest.raises(UserError, match=r"several images are named img0 \(img0.jpg, img0.png\); keep only one"):
        BasicDataset(images_dir, masks_dir)


def test_image_and_mask_of_different_sizes(tmp_path):
    images_dir, masks_dir = make_set(tmp_path, 1)
    Image.fromarray(random_rgb(8, 9)).save(images_dir / "img0.png")
    with pytest.raises(UserError, match=r"img0_mask.png: mask is 8x8 but its image .*img0.png is 9x8; resize"):
        BasicDataset(images_dir, masks_dir)


@pytest.mark.parametrize("broken", ["imgs/img1.png", "masks/img1_mask.png", "imgs/img1.npy"])
def test_unreadable_image_or_mask(tmp_path, broken):
    images_dir, masks_dir = make_set(tmp_path, 2)
    if broken.endswith(".npy"):
        (images_dir / "img1.png").unlink()
        np.save(tmp_path / broken, np.array([{"not": "pixels"}], dtype=object))  # needs pickle: refused
    else:
        (tmp_path / broken).write_bytes(b"this is not a picture")
    with pytest.raises(UserError, match=rf"{broken}: cannot read this image \(.*\); replace it with a valid"):
        BasicDataset(images_dir, masks_dir)


def test_load_image_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match=r"missing.png: cannot read this image \(.*No such file"):
        load_image(tmp_path / "missing.png")
    np.save(tmp_path / "big.npy", np.full((4, 4), 2.5, np.float32))
    with pytest.raises(UserError, match=r"big.npy: cannot read this image \(float array with values outside 0..1\)"):
        load_image(tmp_path / "big.npy")


def test_too_many_mask_values_for_a_binary_task(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    save_pair(tmp_path, "a", np.array([[0, 128, 255]], np.uint8))
    for n_classes in (1, 2):
        with pytest.raises(UserError, match=r"masks have 3 distinct values \[0, 128, 255\] but the task is binary; "
                                            r"for 3 classes use --classes 3"):
            BasicDataset(images_dir, masks_dir, n_classes=n_classes)


def test_too_many_mask_values_for_the_classes(tmp_path):
    images_dir, masks_dir = make_folders(tmp_path)
    save_pair(tmp_path, "a", np.arange(12, dtype=np.uint8).reshape(1, 12) * 20)
    with pytest.raises(UserError, match=r"masks have 12 distinct values \[0, 20, 40, 60, 80, 100, 120, 140, "
                                        r"\.\.\. \(4 more\)\] but --classes is 3; use --classes 12"):
        BasicDataset(images_dir, masks_dir, n_classes=3)
    assert len(BasicDataset(images_dir, masks_dir, n_classes=12).mask_values) == 12
