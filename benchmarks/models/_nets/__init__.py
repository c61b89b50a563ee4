"""Network definitions shared by the model modules.

Kept apart from the model modules so that listing the suite never imports torch: a model
module holds its metadata and defaults, and imports its network only when it is built.
"""
