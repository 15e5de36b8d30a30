"""Every place the generator can emit is a location the gateway accepts."""

from __future__ import annotations

from faker import Faker

from gateway.api.validation import check_location
from models.population import clean_place_name


def test_garbled_apostrophes_are_repaired() -> None:
    assert clean_place_name("Roslavl\u201a\u00c4\u00f4") == "Roslavl'"
    assert clean_place_name("T\u201a\u00c4\u00f4aebaek") == "T'aebaek"


def test_every_faker_city_is_a_valid_gateway_location() -> None:
    land = Faker().provider("faker.providers.geo").land_coords  # type: ignore[union-attr]
    for _lat, _lon, name, country, _zone in land:
        location = f"{clean_place_name(name)}, {country}"
        assert check_location(location) == location
