"""Work done on a work order: checklist, parts, labour, notes, photos, meter reads on site, the signature,
part installations and storage-erasure certificates."""
