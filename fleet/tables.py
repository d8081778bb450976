"""Columns of list pages: one declaration drives the HTML table, sorting and the CSV export."""

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils.encoding import force_str
from django.utils.functional import Promise

from fleet.money import money_format

CSV_CHUNK_SIZE = 2000


@dataclass(frozen=True)
class Column:
    """One column of a list.

    ``path`` is the ORM path of the value ("site__name"); the HTML table reads it from the instance
    (following ``select_related`` relations) and the CSV export reads it with ``values_list``.
    ``choices`` maps stored values to their labels; ``price`` hides the column from roles that see no
    prices; ``sort`` is the ORM expression the column sorts by ("" when it cannot be sorted);
    ``link`` makes the cell a link to the row's detail page; ``phone=False`` leaves the column out of
    the stacked cards that narrow screens show (it stays in the table on wider screens and in the CSV);
    ``provider_only`` shows the column to provider staff only (a customer's users know their own name);
    ``currency_path`` formats the HTML cell as money in that currency; ``html=False`` keeps a column for
    the CSV only (the currency beside an amount, which the HTML cell already shows).
    """

    key: str
    label: str | Promise
    path: str
    sort: str = ""
    choices: dict = field(default_factory=dict)
    price: bool = False
    link: bool = False
    currency_path: str = ""
    phone: bool = True
    provider_only: bool = False
    html: bool = True

    def value(self, obj):
        value = obj
        for part in self.path.split("__"):
            if value is None:
                return None
            value = getattr(value, part)
        return value

    def display(self, value):
        if value is None:
            return ""
        if self.choices:
            return self.choices.get(value, value)
        return value

    def cell(self, obj):
        """What the HTML table shows for ``obj``: the label of a choice, or an amount in its currency."""
        value = self.value(obj)
        if self.currency_path and value is not None:
            return money_format(value, Column(self.key, self.label, self.currency_path).value(obj))
        return self.display(value)


def visible_columns(columns: Iterable[Column], *, sees_prices: bool, is_provider_staff: bool = True) -> list[Column]:
    return [
        column
        for column in columns
        if (sees_prices or not column.price) and (is_provider_staff or not column.provider_only)
    ]


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Promise):
        return force_str(value)
    text = str(value)
    # Neutralise spreadsheet formulas in exported text (CSV injection).
    if text and text[0] in "=+-@\t\r" and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except (ArithmeticError, ValueError):
        return False
    return True


def csv_rows(queryset: QuerySet, columns: list[Column]) -> Iterator[list[str]]:
    """The header and the rows of ``queryset`` as CSV cells, read in chunks with ``values_list``."""
    yield [force_str(column.label) for column in columns]
    paths = [column.path for column in columns]
    maps: list[Callable | None] = [
        {key: force_str(label) for key, label in column.choices.items()}.get if column.choices else None
        for column in columns
    ]
    for row in queryset.values_list(*paths).iterator(chunk_size=CSV_CHUNK_SIZE):
        yield [
            csv_cell(mapper(value, value) if mapper is not None and value is not None else value)
            for mapper, value in zip(maps, row, strict=True)
        ]


def csv_response(queryset: QuerySet, columns: list[Column], filename: str) -> StreamingHttpResponse:
    """Stream ``queryset`` as a CSV download (UTF-8 with a BOM, so spreadsheets read Japanese correctly)."""
    writer = csv.writer(_Echo())

    def stream():
        yield "\ufeff"
        for row in csv_rows(queryset, columns):
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
