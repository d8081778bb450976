"""Template context shared by every portal page: the user's access and the navigation it allows."""

from fleet.tenancy import access_for


def portal(request) -> dict:
    user = getattr(request, "user", None)
    return {"access": access_for(user) if user is not None else None}
