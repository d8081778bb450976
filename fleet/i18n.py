"""Framework strings the portal shows that Django's own Japanese catalogue does not translate yet.

``makemessages`` reads this module, so ``locale/ja`` (which takes precedence over Django's catalogues)
carries their translation. Nothing needs to import it.
"""

from django.utils.translation import gettext_noop

FRAMEWORK_MESSAGES = (
    gettext_noop("- Select an option -"),  # the blank choice of select fields (Django 6.1)
)
