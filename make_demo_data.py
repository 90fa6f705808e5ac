"""Make the demo data set: cartoon cars on busy backgrounds, with their masks.

    python3 make_demo_data.py                                  # data/imgs/test_0..4.png + data/masks/test_N_mask.png
    python3 make_demo_data.py --count 500 --out data_500       # a bigger set, for a model that generalizes
    python3 make_demo_data.py --count 100 --out data_heldout --seed 1   # unseen images to evaluate on

Each car (body, windows, wheels) is foreground (mask 255); everything else is background (mask 0),
including the distractors: boxes, poles, trees and blobs painted in car colours, so that a model has
to learn the shape of a car, not its colour. Image i depends only on (seed, i), so the first five images
of `--count 500` are the five demo images.
"""
import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from utils.errors import UserError, run_cli

# Foreground fraction every image must have; a car outside it is re-drawn.
MIN_FOREGROUND, MAX_FOREGROUND = 0.15, 0.35

CAR_COLOURS = np.array([
    [200, 30, 35], [25, 60, 170], [235, 235, 230], [165, 170, 175], [30, 30, 35], [240, 200, 30],
    [40, 130, 60], [235, 110, 25], [20, 35, 80], [110, 115, 120], [120, 20, 40], [90, 170, 210],
], dtype=np.float32)
# Sky gradients (top colour, horizon colour): clear, overcast, sunset.
SKIES = np.array([[[70, 120, 200], [170, 200, 235]], [[120, 125, 135], [200, 200, 205]],
                  [[90, 80, 140], [240, 160, 90]]], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Drawing with signed distances: negative inside a shape, positive outside, in pixels.
# Coverage 0.5 - distance gives anti-aliased edges; distance < 0 gives the exact mask.


def sd_box(x, y, cx, cy, half_w, half_h, radius=0.0):
    """Rounded rectangle centred on (cx, cy)."""
    qx = np.abs(x - cx) - (half_w - radius)
    qy = np.abs(y - cy) - (half_h - radius)
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    inside = np.minimum(np.maximum(qx, qy), 0)
    return outside + inside - radius


def sd_circle(x, y, cx, cy, radius):
    return np.hypot(x - cx, y - cy) - radius


def sd_ellipse(x, y, cx, cy, rx, ry):
    """Approximate distance, good enough near the edge where anti-aliasing needs it."""
    return (np.hypot((x - cx) / rx, (y - cy) / ry) - 1) * min(rx, ry)


def sd_line(x, y, x0, y0, x1, y1):
    """Half-plane to the right of the directed line (x0, y0) -> (x1, y1) (image y points down)."""
    dx, dy = x1 - x0, y1 - y0
    return ((x - x0) * dy - (y - y0) * dx) / np.hypot(dx, dy)


def coverage(distance, softness=1.0):
    return np.clip(0.5 - distance / softness, 0, 1)


def paint(image, colour, alpha):
    """Alpha-blend a colour (3 values or an HxWx3 array) over the image, in place."""
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if len(rows) == 0:
        return
    # Blend only the rectangle the shape covers: most shapes are small, this makes drawing fast.
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    colour = np.asarray(colour, np.float32)
    colour = colour[box] if colour.ndim == 3 else colour
    image[box] += (colour - image[box]) * alpha[box][..., None]


def window(x, y, centre_x, centre_y, radius):
    """The part of the pixel grid within radius of a point, as (rows, cols) slices."""
    x_axis, y_axis = x[0], y[:, 0]
    cols = np.flatnonzero(np.abs(x_axis - centre_x) <= radius + 1)
    rows = np.flatnonzero(np.abs(y_axis - centre_y) <= radius + 1)
    return slice(rows[0], rows[-1] + 1) if len(rows) else slice(0, 0), \
        slice(cols[0], cols[-1] + 1) if len(cols) else slice(0, 0)


def smooth_noise(rng, size, cells):
    """Blotchy noise in about [-1, 1]: a cells x cells random grid upsampled smoothly."""
    grid = Image.fromarray(rng.standard_normal((cells, cells)).astype(np.float32))
    return np.asarray(grid.resize((size, size), Image.BICUBIC), dtype=np.float32)


def random_colour(rng, jitter=25):
    return CAR_COLOURS[rng.integers(len(CAR_COLOURS))] + rng.uniform(-jitter, jitter, 3).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Background: sky (or a wall) above a horizon, ground below, textures, distractor objects.


def draw_background(rng, x, y, size, horizon):
    image = np.zeros((size, size, 3), np.float32)
    sky = y < horizon
    t = (y / size)[..., None]
    if rng.random() < 0.65:  # sky: a vertical gradient with clouds
        top, bottom = SKIES[rng.integers(len(SKIES))]
        upper = top + (bottom - top) * np.clip(t * size / max(horizon, 1), 0, 1)
        clouds = np.clip(smooth_noise(rng, size, rng.integers(3, 7)), 0, None)[..., None]
        upper = upper + clouds * rng.uniform(20, 60)
    else:  # a wall with windows or panels
        upper = np.broadcast_to(rng.uniform(60, 200, 3).astype(np.float32), (size, size, 3)).copy()
        step = rng.uniform(size / 8, size / 4)
        panels = (np.floor(x / step) + np.floor(y / step)) % 2 == 0
        upper[panels] *= rng.uniform(0.75, 0.95)
    image[sky] = upper[sky]

    ground_kind = rng.integers(3)
    base = [np.array([95, 95, 100]), np.array([70, 130, 55]), np.array([165, 145, 110])][ground_kind]
    lower = base.astype(np.float32) + rng.uniform(-20, 20, 3).astype(np.float32)
    lower = lower * (0.8 + 0.4 * (t - horizon / size))  # nearer ground is lighter
    lower = lower + smooth_noise(rng, size, rng.integers(6, 16))[..., None] * rng.uniform(8, 25)
    if ground_kind == 0:  # road: lane stripes, dashed
        for _ in range(rng.integers(1, 3)):
            stripe_y = rng.uniform(horizon + 5, size)
            dashes = np.sin(x / rng.uniform(6, 14)) > rng.uniform(-1, 0.3)
            stripe = (np.abs(y - stripe_y) < rng.uniform(1, 3)) & dashes
            lower[stripe] = [230, 230, 220] if rng.random() < 0.6 else [230, 190, 40]
    elif ground_kind == 1:  # grass: fine vertical strokes
        lower = lower + (np.sin(x * rng.uniform(1.5, 3)) * np.sin(y * 0.7))[..., None] * 10
    else:  # paving: slanted stripes of slabs
        slabs = np.sin((x + y * rng.uniform(-1, 1)) / rng.uniform(3, 8)) > 0.6
        lower[slabs] *= rng.uniform(0.75, 0.9)
    image[~sky] = lower[~sky]
    return image


def draw_distractors(rng, image, x, y, size, horizon):
    """Objects that are NOT cars, some in car colours, so colour alone cannot find the car."""
    for _ in range(rng.integers(3, 9)):
        kind = rng.integers(5)
        cx, cy = rng.uniform(0, size), rng.uniform(horizon - size * 0.1, size)
        colour = random_colour(rng)
        if kind == 0:  # box or crate, shaded top to bottom
            half_w, half_h = rng.uniform(8, 55), rng.uniform(8, 40)
            shade = (1.15 - 0.4 * np.clip((y - cy + half_h) / (2 * half_h), 0, 1))[..., None]
            paint(image, colour * shade, coverage(sd_box(x, y, cx, cy, half_w, half_h, rng.uniform(0, 6))))
        elif kind == 1:  # pole or post, from the ground up
            half_w = rng.uniform(2, 6)
            paint(image, colour * 0.8, coverage(sd_box(x, y, cx, cy / 2, half_w, cy / 2 + 2)))
        elif kind == 2:  # tree: trunk and a crown (sometimes in a car colour)
            paint(image, [90, 60, 35], coverage(sd_box(x, y, cx, cy - 15, 4, 18)))
            crown = colour if rng.random() < 0.4 else np.array([40, 110, 45], np.float32) * rng.uniform(0.7, 1.3)
            texture = 1 + 0.15 * smooth_noise(rng, size, 24)[..., None]
            paint(image, crown * texture, coverage(sd_circle(x, y, cx, cy - 40, rng.uniform(14, 30))))
        elif kind == 3:  # blob in a car colour
            paint(image, colour, coverage(sd_ellipse(x, y, cx, cy, rng.uniform(8, 60), rng.uniform(6, 30))))
        else:  # a lone dark ring (tyre) that is not part of a car
            radius = rng.uniform(6, 16)
            paint(image, [30, 30, 32], coverage(sd_circle(x, y, cx, cy, radius)))
            paint(image, [150, 150, 155], coverage(sd_circle(x, y, cx, cy, radius * 0.5)))


# ---------------------------------------------------------------------------------------------
# The car: all sizes are fractions of its length, so one set of numbers draws any scale.


@dataclass
class Car:
    length: float  # pixels, bumper to bumper
    centre_x: float  # pixels
    ground_y: float  # pixels, where the tyres touch the ground
    facing: int  # +1 faces right, -1 faces left
    body_height: float
    clearance: float  # ground to the bottom of the body
    cabin_height: float
    cabin_back: float  # where the roof starts and ends, along the car (-0.5 rear .. 0.5 front)
    cabin_front: float
    wheel_radius: float
    wheel_inset: float  # axle distance from each end
    colour: np.ndarray

    def frame(self, x, y):
        """Pixel grid -> car coordinates (u forward, v up), in units of the car's length."""
        return self.facing * (x - self.centre_x) / self.length, (self.ground_y - y) / self.length

    def body_distance(self, u, v):
        top = self.clearance + self.body_height
        body = sd_box(u, v, 0, (self.clearance + top) / 2, 0.5, self.body_height / 2, 0.07)
        # The bonnet slopes down towards the front bumper.
        bonnet = -sd_line(u, v, 0.25, top + 0.01, 0.52, top - self.body_height * 0.45)
        return np.maximum(body, bonnet)

    def cabin_distance(self, u, v):
        top = self.clearance + self.body_height
        roof = top + self.cabin_height
        back, front = self.cabin_back, self.cabin_front
        box = sd_box(u, v, (back + front) / 2, (top - 0.03 + roof) / 2,
                     (front - back) / 2 + 0.14, (roof - top + 0.03) / 2, 0.04)
        windscreen = sd_line(u, v, front + 0.14, top - 0.03, front, roof)
        rear_window = sd_line(u, v, back, roof, back - 0.1, top - 0.03)
        return np.maximum(box, np.maximum(windscreen, rear_window))

    def wheel_centres(self):
        axle = 0.5 - self.wheel_inset
        return [(-axle, self.wheel_radius), (axle, self.wheel_radius)]

    def distance(self, x, y):
        """Signed distance in pixels to the whole car: body, cabin and wheels."""
        u, v = self.frame(x, y)
        shape = np.minimum(self.body_distance(u, v), self.cabin_distance(u, v))
        for wu, wv in self.wheel_centres():
            shape = np.minimum(shape, sd_circle(u, v, wu, wv, self.wheel_radius))
        return shape * self.length


def random_car(rng, size):
    kind = rng.integers(3)  # 0 saloon, 1 hatchback, 2 SUV / van
    body_height = [rng.uniform(0.16, 0.2), rng.uniform(0.18, 0.22), rng.uniform(0.22, 0.27)][kind]
    cabin_height = [rng.uniform(0.13, 0.16), rng.uniform(0.14, 0.18), rng.uniform(0.16, 0.21)][kind]
    cabin_back = [rng.uniform(-0.3, -0.22), rng.uniform(-0.36, -0.3), rng.uniform(-0.38, -0.33)][kind]
    wheel_radius = rng.uniform(0.085, 0.105)
    return Car(
        length=size * 0.8, centre_x=size / 2, ground_y=size * 0.8, facing=1 if rng.random() < 0.5 else -1,
        body_height=body_height, clearance=wheel_radius * rng.uniform(0.7, 0.9), cabin_height=cabin_height,
        cabin_back=cabin_back, cabin_front=rng.uniform(0.05, 0.18), wheel_radius=wheel_radius,
        wheel_inset=rng.uniform(0.16, 0.2), colour=random_colour(rng, jitter=20),
    )


def place_car(rng, car, x, y, size):
    """Pick the car's length so its mask covers a random 17-33% of the image, then a position.
    Returns the mask, or None when this car cannot reach the target (caller draws another)."""
    target = rng.uniform(0.17, 0.33)
    car.length = size * 0.6
    margin = 2
    coarse_x, coarse_y = x[::4, ::4], y[::4, ::4]  # every 4th pixel is enough to measure the area
    for _ in range(3):  # area grows with length squared; three corrections land on the target
        fraction = (car.distance(coarse_x, coarse_y) < 0).mean()
        car.length = min(car.length * np.sqrt(target / fraction), size * 0.97, size - 2 * margin - 1)
    height = (car.clearance + car.body_height + car.cabin_height) * car.length
    car.centre_x = rng.uniform(car.length / 2 + margin, size - car.length / 2 - margin)
    car.ground_y = rng.uniform(height + margin, size - margin)
    mask = car.distance(x, y) < 0
    return mask if MIN_FOREGROUND <= mask.mean() <= MAX_FOREGROUND else None


def draw_car(rng, image, car, x, y):
    u, v = u_car, v_car = car.frame(x, y)
    length = car.length
    top = car.clearance + car.body_height

    # 1. Shadow on the ground (not part of the mask): a soft dark ellipse under the car.
    shadow = coverage(sd_ellipse(u, v, 0, 0, 0.58, 0.05) * length, softness=length * 0.05)
    image *= 1 - 0.55 * shadow[..., None]

    # 2. Body and cabin: lit from above (lighter roof, darker sills), with a shiny stripe and a crease.
    body, cabin = car.body_distance(u, v), car.cabin_distance(u, v)
    hull = np.minimum(body, cabin) * length
    light = 0.6 + 0.55 * np.clip((v - car.clearance) / (top + car.cabin_height - car.clearance), 0, 1)
    shine = np.exp(-((v - top + 0.035) / 0.015) ** 2) * 70
    paint(image, car.colour * light[..., None] + shine[..., None], coverage(hull))
    crease = coverage((np.abs(v - (car.clearance + car.body_height * 0.45)) - 0.004) * length)
    door_lines = (np.abs(u - car.cabin_front + 0.03) < 0.004) | (np.abs(u - car.cabin_back - 0.12) < 0.004)
    paint(image, car.colour * 0.5, np.maximum(crease, door_lines * (v < top) * (v > car.clearance + 0.02))
          * (hull < -1))

    # 3. Windows: the cabin shrunk inwards, split by a pillar; glass is dark with a bright reflection.
    pillar_u = (car.cabin_back + car.cabin_front) / 2
    glass = np.maximum(cabin + 0.022, np.maximum(top + 0.012 - v, 0.012 - np.abs(u - pillar_u)))
    glass_colour = np.array([55, 70, 90], np.float32) * rng.uniform(0.6, 1.3) * (0.7 + 2 * (v - top))[..., None]
    reflection = (np.abs((u + (v - top) * 0.8) - rng.uniform(-0.2, 0.1)) < 0.04)[..., None] * 60
    paint(image, glass_colour + reflection, coverage(glass * length))

    # 4. Lights: headlight at the front, tail light at the back.
    inside_body = coverage(body * length + 1)
    light_v = top - car.body_height * 0.55
    paint(image, [250, 240, 200], coverage(sd_ellipse(u, v, 0.48, light_v, 0.03, 0.018) * length) * inside_body)
    paint(image, [200, 20, 20], coverage(sd_ellipse(u, v, -0.5, top - 0.04, 0.02, 0.025) * length) * inside_body)

    # 5. Wheels: dark arch, tyre, silver rim with holes, hub.
    for wu, wv in car.wheel_centres():
        radius = car.wheel_radius
        # Draw in a small window around the wheel: the same pixels, much less arithmetic.
        rows, cols = window(x, y, car.centre_x + car.facing * wu * length, car.ground_y - wv * length,
                            radius * 1.2 * length)
        image_part, u, v, body_part = image[rows, cols], u_car[rows, cols], v_car[rows, cols], body[rows, cols]
        arch = np.maximum(sd_circle(u, v, wu, wv, radius * 1.15), body_part)
        paint(image_part, [25, 25, 28], coverage(arch * length))
        paint(image_part, [35, 35, 38], coverage(sd_circle(u, v, wu, wv, radius) * length))
        paint(image_part, [185, 185, 190], coverage(sd_circle(u, v, wu, wv, radius * 0.6) * length))
        for angle in np.linspace(0, 2 * np.pi, 5, endpoint=False) + rng.uniform(0, 2 * np.pi):
            hole_u, hole_v = wu + 0.38 * radius * np.cos(angle), wv + 0.38 * radius * np.sin(angle)
            paint(image_part, [90, 90, 95], coverage(sd_circle(u, v, hole_u, hole_v, radius * 0.12) * length))
        paint(image_part, [60, 60, 65], coverage(sd_circle(u, v, wu, wv, radius * 0.15) * length))


def make_example(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (image HxWx3 uint8, mask HxW uint8 0/255) pair."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5  # pixel centres
    x, y = x.copy(), y.copy()
    # 1. The car and its place decide the mask; retry until it covers 15-35% of the image.
    mask = None
    while mask is None:
        car = random_car(rng, size)
        mask = place_car(rng, car, x, y, size)
    # 2. Background behind the car: the horizon sits above where the car stands.
    horizon = rng.uniform(0.15, 0.9) * (car.ground_y - car.wheel_radius * car.length)
    image = draw_background(rng, x, y, size, horizon)
    draw_distractors(rng, image, x, y, size, horizon)
    # 3. The car on top, then lighting across the whole scene and sensor noise.
    height = (car.clearance + car.body_height + car.cabin_height) * car.length
    rows = slice(max(int(car.ground_y - height) - 2, 0), int(car.ground_y + 0.08 * car.length) + 2)
    draw_car(rng, image[rows], car, x[rows], y[rows])  # only the rows the car and its shadow can touch
    direction = rng.uniform(-1, 1, 2)
    image *= (1 + 0.25 * (direction[0] * (x / size - 0.5) + direction[1] * (y / size - 0.5)))[..., None]
    image += rng.normal(0, rng.uniform(3, 9), image.shape).astype(np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), mask.astype(np.uint8) * 255


def generate(out_dir: Path, count: int, seed: int, size: int, prefix: str) -> list[float]:
    """Write count images and masks; returns each mask's foreground fraction."""
    images_dir, masks_dir = out_dir / "imgs", out_dir / "masks"
    images_dir.mkdir(parents=True, exist_ok=True)
    masks_dir.mkdir(parents=True, exist_ok=True)
    fractions = []
    for index in tqdm(range(count), desc="Generating", unit="image", leave=False, disable=count < 50):
        # One generator per image: image i is the same whatever --count is.
        rng = np.random.default_rng([seed, index])
        image, mask = make_example(rng, size)
        Image.fromarray(image).save(images_dir / f"{prefix}_{index}.png")
        Image.fromarray(mask).save(masks_dir / f"{prefix}_{index}_mask.png")
        fractions.append(float((mask > 0).mean()))
    return fractions


def get_args():
    parser = argparse.ArgumentParser(description="Make demo images of cars and their masks")
    parser.add_argument("--count", "-n", type=int, default=5, help="Number of images")
    parser.add_argument("--out", "-o", type=Path, default=Path("data"), help="Folder that gets imgs/ and masks/")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (same seed, same images)")
    parser.add_argument("--size", type=int, default=256, help="Width and height in pixels")
    parser.add_argument("--prefix", default="test", help="File names are PREFIX_N.png and PREFIX_N_mask.png")
    return parser.parse_args()


def main():
    # 1. Check the flags.
    args = get_args()
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: is a file, not a folder; give a folder name such as data/demo_500")
    if args.count < 1:
        raise UserError(f"--count {args.count}: must be at least 1")
    if args.size < 32:
        raise UserError(f"--size {args.size}: must be at least 32 pixels (the default is 256)")
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: must be 0 or more")
    # 2. Draw and save the images and masks, then say where they went.
    fractions = generate(args.out, args.count, args.seed, args.size, args.prefix)
    print(f"Wrote {args.count} images and masks to {args.out / 'imgs'} and {args.out / 'masks'} "
          f"(foreground {100 * min(fractions):.1f}%-{100 * max(fractions):.1f}%)")


if __name__ == "__main__":
    run_cli(main)
