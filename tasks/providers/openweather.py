"""OpenWeather: current weather by city name, for weather-aware targeting.

API: ``GET /data/2.5/weather?q=<city>&appid=<key>&units=metric``. The key travels in the query
string (so URLs are secret-bearing; the gateway masks it in every log line and error). An unknown
city is ``404 {"cod": "404", "message": "city not found"}``: an honest 'not found'.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from aicmo.tasks.gateway import Answer, Provider


class OpenWeatherProvider(Provider):
    """Current weather from OpenWeather's 2.5 API."""

    name = "openweather"
    capability = "weather_by_city"

    def auth_headers(self) -> dict[str, str]:
        return {}  # the key is the ``appid`` query parameter

    async def fetch(self, key: str, client: httpx.AsyncClient) -> Answer:
        body = await self.get_json(
            client, "/data/2.5/weather", {"q": key, "appid": self._secret or "", "units": "metric"}
        )
        if body is None:
            return Answer(found=False)
        weather = (body.get("weather") or [{}])[0]
        main = body["main"]
        observed = body.get("dt")
        return Answer(
            found=True,
            value={
                "city": body.get("name"),
                "country": (body.get("sys") or {}).get("country"),
                "temp_c": main.get("temp"),
                "feels_like_c": main.get("feels_like"),
                "humidity": main.get("humidity"),
                "condition": weather.get("main"),
                "description": weather.get("description"),
                "wind_speed_ms": (body.get("wind") or {}).get("speed"),
                "lat": (body.get("coord") or {}).get("lat"),
                "lon": (body.get("coord") or {}).get("lon"),
                "observed_at": datetime.fromtimestamp(observed, UTC).isoformat() if observed else None,
                "source": self.name,
            },
        )
