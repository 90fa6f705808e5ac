"""The recipe behind the shipped weights unet_objects.pth, beside them: how they were made, and how to make them again.

Library modules:
    recipe            the set's settings, each defined once: flags, ranges, manifest, command line
    sources           what the images are made of: photographs, fonts and stamps from Debian packages
    photo_pools       the photographs and cut-outs the photo benchmark uses (and the recipe leaves out)
    compositing       a crop of a background with cut-outs pasted on it, and the mask of what was pasted
    pretraining_set   writing a recipe's set (in shards, on several cores)
    qt_resources      reading the photographs packed in a Qt resource file (GCompris' monuments)

Scripts (run from the repository root, e.g. `python3 -m pretrained.pretrain --help`):
    make_pretraining_data.py   only the set
    pretrain.py                the set, then train.py on it, then the weights exported

The tutorial never imports this package: train.py only reads the weights file (utils/image_checkpoint.py).
"""
