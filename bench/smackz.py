#!/usr/bin/env python3
"""smackz: the deterministic event generator every benchmark and end-to-end test uses.

A food-ordering app's event stream (docs/smackz.md): 70 % app_events, 20 % order_items,
10 % orders, each entry with fields `entity` and `data` (a JSON object). The same seed
gives the same events, byte for byte, so figures compare from run to run.

    bench/smackz.py --count 10000 --seed 1                      # JSON lines: {"entity":..,"data":{..}}
    bench/smackz.py --count 10000 --table orders --data-only     # one data object per line (convert)
    bench/smackz.py --count 10000 --bad-rate 0.001 --redis redis://127.0.0.1:6390/0 --stream smackz:events

As a library: `Smackz(seed).events(count)` yields (entity, data_dict_or_raw_text) and
`Smackz.bad_events()` the kinds of bad entries the end-to-end tests mix in.
"""
import argparse
import datetime as dt
import json
import random
import sys
import uuid
from decimal import ROUND_HALF_EVEN, Decimal

STATUSES = [("placed", 40), ("accepted", 20), ("preparing", 15), ("delivering", 10),
            ("delivered", 12), ("cancelled", 3)]
CURRENCIES = [("USD", 80), ("CAD", 15), ("EUR", 5)]
PLATFORMS = [("ios", 45), ("android", 40), ("web", 15)]
EVENT_NAMES = [
    "view_menu", "add_to_cart", "checkout_start", "checkout_complete", "search", "open_app",
    "view_restaurant", "remove_from_cart", "apply_promo", "rate_order", "view_order",
    "track_order", "contact_support", "update_address", "login", "logout", "signup",
    "view_offers", "share_restaurant", "favorite_restaurant", "unfavorite_restaurant",
    "view_profile", "edit_profile", "add_payment", "remove_payment", "tip_change",
    "schedule_order", "reorder", "push_open", "app_background",
]
APP_VERSIONS = ["4.18.2", "4.18.1", "4.18.0", "4.17.5", "4.17.4", "4.17.0", "4.16.3",
                "4.16.0", "4.15.9", "4.15.2", "4.14.0", "4.13.7"]
DISH_BASES = ["Crème brûlée", "Phở bò", "寿司", "Pad thai", "Margherita", "Bibimbap",
              "Tacos al pastor", "Ramen", "Falafel", "Paella", "Pierogi", "Jollof rice",
              "Smørrebrød", "Kimchi jjigae", "Çiğ köfte", "Bánh mì", "Poutine", "Gyoza",
              "Shakshuka", "Tiramisù", "Croque-monsieur", "Dal makhani", "Ceviche",
              "Bún chả", "Köttbullar"]
DISH_WORDS = ["classic", "spicy", "vegan", "deluxe", "mini", "family", "house", "grilled",
              "crispy", "smoked", "garlic", "lemon", "truffle", "chili", "herb", "sweet",
              "sour", "double", "extra", "light"]
CITY = (40.70, 40.80, -74.02, -73.93)  # lat_min, lat_max, lon_min, lon_max
DEFAULT_START = "2026-11-01T00:00:00Z"


def weighted(rng, choices):
    total = sum(w for _, w in choices)
    r = rng.random() * total
    for value, w in choices:
        r -= w
        if r < 0:
            return value
    return choices[-1][0]


def zipf_like(rng, n, s=1.1):
    """A bounded Pareto draw over 1..n with exponent s: the continuous form of Zipf."""
    u = rng.random()
    a = 1.0 - s
    x = ((n ** a - 1.0) * u + 1.0) ** (1.0 / a)
    return min(n, max(1, int(x)))


def money(rng, lo_cents, hi_cents):
    return Decimal(rng.randint(lo_cents, hi_cents)).scaleb(-2)


def iso_micros(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Smackz:
    def __init__(self, seed=1, start=DEFAULT_START, span_hours=24.0):
        self.rng = random.Random(seed)
        self.start = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        self.span_s = span_hours * 3600.0
        self.dishes = self._dishes()
        self.promos = [f"PROMO{i:03d}" for i in range(200)]
        self.orders = []          # (order_id, items_count, created_at) of this run
        self.session = None
        self.session_left = 0

    def _dishes(self):
        r = random.Random(7)
        names = []
        for i in range(5000):
            base = DISH_BASES[i % len(DISH_BASES)]
            names.append(f"{base} {r.choice(DISH_WORDS)} #{i}" if i >= len(DISH_BASES) else base)
        return names

    def _uuid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _time(self, i, count):
        """Increasing over the span, with up to ±2 s of noise."""
        base = self.span_s * i / max(1, count)
        noise = self.rng.uniform(-2.0, 2.0)
        return self.start + dt.timedelta(seconds=max(0.0, base + noise))

    def order(self, t):
        rng = self.rng
        subtotal = money(rng, 500, 25000)
        tax = (subtotal * Decimal("0.08")).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        status = weighted(rng, STATUSES)
        items_count = rng.randint(1, 12)
        order_id = self._uuid()
        self.orders.append((order_id, items_count, t))
        if len(self.orders) > 1000:
            self.orders.pop(0)
        return {
            "order_id": order_id,
            "user_id": zipf_like(rng, 2_000_000),
            "restaurant_id": zipf_like(rng, 50_000),
            "status": status,
            "subtotal": subtotal,
            "tax": tax,
            "tip": None if rng.random() < 0.30 else money(rng, 0, 4000),
            "currency": weighted(rng, CURRENCIES),
            "items_count": items_count,
            "promo_code": None if rng.random() < 0.90 else rng.choice(self.promos),
            "is_pickup": rng.random() < 0.15,
            "created_at": iso_micros(t),
            "delivered_at": iso_micros(t + dt.timedelta(minutes=rng.uniform(10, 90)))
            if status == "delivered" else None,
            "lat": round(rng.uniform(CITY[0], CITY[1]), 6),
            "lon": round(rng.uniform(CITY[2], CITY[3]), 6),
        }

    def order_item(self, t):
        rng = self.rng
        if not self.orders:
            self.order(t)
        order_id, items_count, _ = rng.choice(self.orders)
        modifiers = None
        if rng.random() >= 0.60:
            modifiers = [{"name": rng.choice(["no onions", "extra cheese", "spicy", "gluten free",
                                              "large", "side salad"]),
                          "price": float(money(rng, 0, 300))}
                         for _ in range(rng.randint(1, 3))]
        return {
            "order_id": order_id,
            "line_no": rng.randint(1, items_count),
            "menu_item_id": rng.randint(1, 500_000),
            "name": rng.choice(self.dishes),
            "quantity": rng.randint(1, 5),
            "unit_price": money(rng, 100, 6000),
            "modifiers": modifiers,
            "created_at": iso_micros(t),
        }

    def app_event(self, t):
        rng = self.rng
        if self.session_left <= 0:
            self.session = "%032x" % rng.getrandbits(128)
            self.session_left = max(1, int(rng.expovariate(1 / 8)))
        self.session_left -= 1
        props = {}
        for k in range(rng.randint(0, 6)):
            kind = rng.randint(0, 3)
            key = f"p{k}"
            if kind == 0:
                props[key] = rng.choice(["a", "b", "search", "menu", "ü"])
            elif kind == 1:
                props[key] = rng.randint(-1000, 100000)
            elif kind == 2:
                props[key] = rng.random() < 0.5
            else:
                props[key] = {"x": rng.randint(0, 9), "tag": rng.choice(["red", "blue"])}
        return {
            "event_id": self._uuid(),
            "user_id": None if rng.random() < 0.20 else zipf_like(rng, 2_000_000),
            "session_id": self.session,
            "name": EVENT_NAMES[min(len(EVENT_NAMES) - 1, int(rng.expovariate(0.25)))],
            "platform": weighted(rng, PLATFORMS),
            "app_version": rng.choice(APP_VERSIONS),
            "ts": iso_micros(t),
            "duration_ms": None if rng.random() < 0.50 else rng.randint(1, 120_000),
            "properties": props,
        }

    def events(self, count, bad_rate=0.0):
        """Yields (fields) dicts: {"entity": ..., "data": json text} (or a bad entry)."""
        bad_kinds = list(self.bad_events())
        for i in range(count):
            t = self._time(i, count)
            if bad_rate > 0 and self.rng.random() < bad_rate:
                yield dict(bad_kinds[self.rng.randrange(len(bad_kinds))][1])
                continue
            r = self.rng.random()
            if r < 0.70:
                entity, data = "app_events", self.app_event(t)
            elif r < 0.90:
                entity, data = "order_items", self.order_item(t)
            else:
                entity, data = "orders", self.order(t)
            yield {"entity": entity, "data": dumps(data)}

    def table_rows(self, table, count):
        """`count` data objects of one table (for convert and encoder benchmarks)."""
        make = {"orders": self.order, "order_items": self.order_item, "app_events": self.app_event}[table]
        for i in range(count):
            yield make(self._time(i, count))

    @staticmethod
    def bad_events():
        """(reason, fields) of each kind of bad entry the end-to-end tests mix in."""
        good = {"order_id": "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10", "user_id": 1, "restaurant_id": 2,
                "status": "placed", "subtotal": "10.00", "tax": "0.80", "tip": None, "currency": "USD",
                "items_count": 1, "promo_code": None, "is_pickup": False,
                "created_at": "2026-11-01T00:00:00.000000Z", "delivered_at": None,
                "lat": 40.75, "lon": -73.98}
        missing = dict(good)
        del missing["order_id"]
        yield "invalid JSON", {"entity": "orders", "data": '{"order_id": "x", "user_id": 1,'}
        yield "missing required column", {"entity": "orders", "data": json.dumps(missing)}
        yield "bad decimal", {"entity": "orders", "data": json.dumps(dict(good, subtotal="12.3.4"))}
        yield "bad timestamp", {"entity": "orders",
                                "data": json.dumps(dict(good, created_at="2026-13-01T00:00:00Z"))}
        yield "unknown entity", {"entity": "refunds", "data": json.dumps({"id": 1})}
        yield "no data field", {"entity": "orders"}


class _RawNumber(float):
    """Lets json emit a Decimal as an exact JSON number (e.g. 12.30, not 12.3)."""
    def __new__(cls, text):
        self = float.__new__(cls, text)
        self.text = text
        return self

    def __repr__(self):
        return self.text


def dumps(data):
    """JSON text with decimals as exact numbers with their scale (subtotal 12.30)."""
    def conv(v):
        if isinstance(v, Decimal):
            return _RawNumber(str(v))
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v
    return _encode(conv(data))


def _encode(v):
    if isinstance(v, _RawNumber):
        return v.text
    if isinstance(v, dict):
        return "{" + ", ".join(json.dumps(k, ensure_ascii=False) + ": " + _encode(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_encode(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default=DEFAULT_START, help="event time of the first event (UTC)")
    ap.add_argument("--bad-rate", type=float, default=0.0, help="share of bad entries, e.g. 0.001")
    ap.add_argument("--table", help="only this table's rows (with --data-only)")
    ap.add_argument("--data-only", action="store_true", help="one data object per line")
    ap.add_argument("--redis", help="XADD to this Redis URL instead of printing")
    ap.add_argument("--stream", default="smackz:events")
    args = ap.parse_args()
    gen = Smackz(args.seed, args.start)
    out = sys.stdout
    if args.data_only:
        if not args.table:
            ap.error("--data-only needs --table")
        for row in gen.table_rows(args.table, args.count):
            out.write(dumps(row) + "\n")
        return
    if args.redis:
        import redis
        r = redis.Redis.from_url(args.redis)
        pipe = r.pipeline(transaction=False)
        for n, fields in enumerate(gen.events(args.count, args.bad_rate), 1):
            pipe.xadd(args.stream, fields)
            if n % 1000 == 0:
                pipe.execute()
        pipe.execute()
        return
    for fields in gen.events(args.count, args.bad_rate):
        out.write(json.dumps(fields, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
