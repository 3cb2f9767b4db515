"""Synthetic pedestrians with per-pixel part masks, in the Market-1501 layout.

Each *identity* is a set of attributes (skin and hair colour, upper and lower
clothing colours and patterns, shoes, bag, hat).  Each *image* of an identity
varies the nuisances the IANet paper targets (Hou et al., CVPR 2019, Fig. 1):

* pose: walking phase, arm and leg angles, front / back / side view, lean;
* scale and offset: imperfect detection boxes that shrink the person or cut the
  head, the feet or one side;
* background clutter (other pedestrians, signs, windows, occluding poles),
  illumination (per-camera gain, tint and gradient, per-image jitter) and blur.

"Cameras" are different backgrounds and lighting.  People are drawn with OpenCV
primitives (ellipses, convex polygons, capsules) into a *material* map; the
image and the part mask are both read from that map, so they agree pixel for
pixel.

Part mask label ids (``PART_LABELS``; hair and hat count as head, hands as arms,
the pelvis and a skirt as legs, the bag strap as bag)::

    0 background
    1 head
    2 torso
    3 arms
    4 legs
    5 shoes
    6 bag

Command line (Market-1501 layout, readable by ``ianet_viz.reid.Market1501``)::

    python -m ianet_viz.synthetic --output DIR --identities N \
        --images-per-identity K --seed S [--height 256 --width 128] [--cameras 6]

writes::

    DIR/bounding_box_train/0001_c3s2_000012_00.jpg   train identities (first half of the pids)
    DIR/query/0007_c1s4_000151_00.jpg                 test identities: one image per camera
    DIR/bounding_box_test/0007_c5s1_000033_00.jpg     test identities: the rest
    DIR/masks/<subfolder>/<same stem>.png              part masks (uint8 PNG, values = label ids)
    DIR/attributes.json                                identity attributes per pid
    DIR/README.txt                                     layout and label ids
    DIR/manifest.json                                  generation parameters (written last)

Every query image has a gallery image of the same pid from another camera.
The output is byte-identical for a given seed and parameters: every image draws
from its own ``np.random.default_rng(SeedSequence(seed, spawn_key=(2, pid, index)))``,
so the order of work (and the number of worker processes) does not matter.

Python API for notebooks::

    rng = np.random.default_rng(0)
    ident = sample_identity(rng)
    image, mask = render_person(ident, sample_pose(rng), camera=2, rng=rng)
    colorize_mask(mask)                        # RGB visualisation of a mask
    render_sample(ident, pid, index, camera, seed=S)   # exactly what the dataset writer drew
    root = ensure_dataset("data/synthetic", identities=40, images_per_identity=8)

Images are RGB uint8 ``H x W x 3`` in the API; the JPEG files are ordinary colour
JPEGs (converted to BGR for OpenCV's encoder).

Modules: :mod:`.parts` (label ids, shared constants), :mod:`.people` (identities, poses,
framings), :mod:`.body` (the painter), :mod:`.render` (cameras, ``render_person``),
:mod:`.writer` (the dataset writer), ``__main__`` (the command line).
"""
from .parts import PART_COLORS, PART_LABELS, VIEWS
from .people import Framing, Identity, Pose, sample_framing, sample_identity, sample_pose
from .render import colorize_mask, contact_sheet, render_person
from .writer import ensure_dataset, generate_dataset, render_sample

__all__ = [
    "PART_LABELS",
    "PART_COLORS",
    "VIEWS",
    "Identity",
    "Pose",
    "Framing",
    "sample_identity",
    "sample_pose",
    "sample_framing",
    "render_person",
    "render_sample",
    "colorize_mask",
    "contact_sheet",
    "generate_dataset",
    "ensure_dataset",
]
