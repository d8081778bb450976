"""API: work done on a work order: checklist, parts, labour, notes, photos, meter reads, signature, certificates."""

urlpatterns: list = []
