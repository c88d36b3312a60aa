"""Where a service sets its own default for a kit setting, the kit's rule still holds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from order_service.config import Settings as OrderSettings
from service_kit.settings import ServiceSettings
from user_service.config import Settings as UserSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("settings_class", [UserSettings, OrderSettings])
@pytest.mark.parametrize("port", [0, 65536])
def test_a_service_s_own_port_default_keeps_the_kit_s_bounds(
    clean_environment: Callable[[type[BaseSettings]], None],
    settings_class: type[ServiceSettings],
    port: int,
) -> None:
    clean_environment(settings_class)
    with pytest.raises(ValidationError, match="port"):
        settings_class(port=port)
