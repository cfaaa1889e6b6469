"""Maps of a whole region from the imagery itself (``sitsfusion map``, docs/mapping.md).

``windows`` (the scene cut into overlapping windows grouped in blocks) → ``predictor`` (a block
read once, its windows through the model, weighted sums) → ``cluster`` (blocks as Dask tasks)
→ ``assemble`` (regions blended into the COGs and the parcels); ``parcel_models`` (parcel
checkpoints through the parcel polygons); ``scene`` (the command: folder, resuming); ``view``
(the offline HTML quick-look).
"""
