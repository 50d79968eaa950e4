"""A local fake exchange that speaks Binance spot's REST dialect on 127.0.0.1, for tests that drive ccxt's real code path
without a network.

It keeps its own book (market orders fill against a configurable price and liquidity; limit orders rest until they
cross or are filled by hand), balances, trades and server clock; checks the API key, the HMAC-SHA256 signature and
the request timestamp against `recvWindow` as Binance does; and answers errors as Binance's `{code, msg}` bodies with
Binance's HTTP statuses. Fault controls (`fail`, `hold_ack`, `down`, `skew_ms`, `liquidity`) let a test break it in the
ways real venues break. Nagle is off on the server socket, so a keep-alive round trip costs well under a millisecond.

    fake = FakeBinance().start()
    ex = CCXTExchange("fake", venue_cfg, endpoint=fake.url)   # ccxt keeps api.binance.com; requests go to the fake
"""
from __future__ import annotations
import hashlib, hmac, itertools, json, socket, threading, time
from decimal import Decimal, ROUND_DOWN
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

TEST_API_KEY = "dmTESTkey0000000000000000000000000000000000000000000000000000000"
TEST_SECRET = "dmTESTsecret000000000000000000000000000000000000000000000000000"


def _dec(x) -> Decimal: return Decimal(str(x))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"          # keep-alive: ccxt's requests session reuses one connection
    disable_nagle_algorithm = True         # else every small response waits ~40 ms for a delayed ACK

    def log_message(self, *a): pass

    def _reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items(): self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        fake: FakeBinance = self.server.fake
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        query = u.query if method in ("GET", "DELETE") else body
        t_recv = time.perf_counter_ns()
        status, payload, headers, after = fake.dispatch(method, u.path, query, self.headers, t_recv)
        if after == "drop":                           # connection dropped after the work was done
            self.close_connection = True
            try: self.connection.shutdown(socket.SHUT_RDWR)
            except OSError: pass
            return
        if after == "timeout":                        # answer later than the client waits
            time.sleep(fake.timeout_sleep_s); self.close_connection = True
            try: self.connection.shutdown(socket.SHUT_RDWR)
            except OSError: pass
            return
        self._reply(status, payload, headers)

    def do_GET(self): self._handle("GET")
    def do_POST(self): self._handle("POST")
    def do_DELETE(self): self._handle("DELETE")


class FakeBinance:
    "A Binance-spot-speaking exchange on 127.0.0.1 with its own book, balances, clock and fault controls."
    def __init__(self, markets=None, balances=None, api_key=TEST_API_KEY, secret=TEST_SECRET, prices=None, fee_rate=0.001):
        # markets: {unified symbol: dict(step=, tick=, min_qty=, min_notional=)}
        self.markets = markets or {"BTC/USDT": dict(step="0.00001", tick="0.01", min_qty="0.00001", min_notional="5")}
        self.balances = {k: _dec(v) for k, v in (balances or {"USDT": 1_000_000, "BTC": 0}).items()}
        for s in self.markets:
            for a in s.split("/"): self.balances.setdefault(a, Decimal(0))
        self.api_key, self.secret, self.fee_rate = api_key, secret, _dec(fee_rate)
        self.prices = {s: _dec(p) for s, p in (prices or {s: 100 for s in self.markets}).items()}
        self.liquidity = {}                  # symbol -> largest quantity a market order fills (the rest expires)
        self.klines = {s: [] for s in self.markets}   # symbol -> [[open_ms, o, h, l, c, v], ...]
        self.interval_ms = 60_000
        self.orders, self.trades, self.requests = {}, [], []
        self.skew_ms = 0                     # server clock minus local clock
        self.faults = []                     # dicts: method, path, kind, count, after (apply after the work is done)
        self.hold = None                     # threading.Event: POST /order waits on it after placing (kill -9 window)
        self.placed = threading.Event()      # set whenever an order is placed
        self.down = False                    # every request answered 503
        self.timeout_sleep_s = 2.0
        self._ids = itertools.count(1); self._tids = itertools.count(1)
        self.lock = threading.RLock()

    # --- life cycle -------------------------------------------------------------------------------------------------
    def start(self):
        "Serve on 127.0.0.1 on a free port in a daemon thread; returns self (`url` is the base)."
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown(); self.server.server_close()

    def now_ms(self) -> int: return int(time.time() * 1000) + self.skew_ms

    # --- controls ---------------------------------------------------------------------------------------------------
    def fail(self, method, path, kind, count=1, after=False, retry_after=None):
        "The next `count` requests `method path` fail as `kind` (http status int, 'drop', 'timeout', -1003 ...)."
        self.faults.append(dict(method=method, path=path, kind=kind, count=count, after=after, retry_after=retry_after))

    def set_price(self, symbol, price): self.prices[symbol] = _dec(price)

    def push_bar(self, symbol, open_ms, o, h, l, c, v=1.0):
        "Add (or replace) the kline starting at `open_ms`."
        with self.lock:
            k = self.klines[symbol]
            if k and k[-1][0] == open_ms: k[-1] = [open_ms, o, h, l, c, v]
            else: k.append([open_ms, o, h, l, c, v])

    def our_orders(self, prefix=""):
        "Orders whose client id starts with `prefix`."
        return [o for o in self.orders.values() if o["clientOrderId"].startswith(prefix)]

    def position(self, asset): return float(self.balances.get(asset, 0))

    def fill_resting(self, client_order_id, qty):
        "Fill `qty` of a resting limit order at its limit price (a partial fill when less than what remains)."
        with self.lock:
            o = next(o for o in self.orders.values() if o["clientOrderId"] == client_order_id)
            self._execute(o, _dec(qty), _dec(o["price"]), maker=True)

    # --- dispatch ---------------------------------------------------------------------------------------------------
    def _fault(self, method, path, after):
        for f in self.faults:
            if f["count"] > 0 and f["method"] == method and f["path"] == path and f["after"] == after:
                f["count"] -= 1
                return f
        return None

    def _err(self, status, code, msg, headers=None): return status, {"code": code, "msg": msg}, headers or {}, None

    def _fault_reply(self, f):
        k = f["kind"]
        if k in ("drop", "timeout"): return 0, None, {}, k
        if k in (429, 418): return self._err(k, -1003, "Too much request weight used; current limit is 1200 request weight per 1 MINUTE.",
                                             {"Retry-After": f["retry_after"] or 1})
        if k == -1003: return self._err(400, -1003, "Too many requests; current limit is 1200 requests per minute.")
        if isinstance(k, int) and k >= 500: return k, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}, {}, None
        raise ValueError(k)

    def dispatch(self, method, path, query, headers, t_recv):
        params = dict(parse_qsl(query, keep_blank_values=True))
        with self.lock: self.requests.append((method, path, time.time(), t_recv, params.get("newClientOrderId")))
        if self.down: return 503, {"code": -1001, "msg": "Service Unavailable."}, {}, None
        f = self._fault(method, path, after=False)
        if f: return self._fault_reply(f)
        route = {("GET", "/api/v3/time"): self.r_time, ("GET", "/api/v3/exchangeInfo"): self.r_exchange_info,
                 ("GET", "/api/v3/ticker/24hr"): self.r_ticker, ("GET", "/api/v3/depth"): self.r_depth,
                 ("GET", "/api/v3/klines"): self.r_klines, ("GET", "/api/v3/account"): self.r_account,
                 ("POST", "/api/v3/order"): self.r_new_order, ("GET", "/api/v3/order"): self.r_get_order,
                 ("DELETE", "/api/v3/order"): self.r_cancel, ("GET", "/api/v3/openOrders"): self.r_open_orders,
                 ("GET", "/api/v3/myTrades"): self.r_my_trades}.get((method, path))
        if route is None: return self._err(404, -1000, f"unknown endpoint {method} {path}")
        if route in (self.r_account, self.r_new_order, self.r_get_order, self.r_cancel, self.r_open_orders, self.r_my_trades):
            bad = self._check_signed(query, params, headers)
            if bad: return bad
        with self.lock: status, payload = route(params)
        f = self._fault(method, path, after=True)
        if f:
            r = self._fault_reply(f)
            return r
        if route is self.r_new_order and status == 200 and self.hold is not None:
            self.hold.wait()                                   # the order stands; the answer waits (kill -9 here)
        return status, payload, {}, None

    def _check_signed(self, query, params, headers):
        if headers.get("X-MBX-APIKEY") != self.api_key: return self._err(401, -2015, "Invalid API-key, IP, or permissions for action.")
        unsigned, _, sig = query.rpartition("&signature=")
        good = hmac.new(self.secret.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, good): return self._err(400, -1022, "Signature for this request is not valid.")
        ts, window, now = int(params.get("timestamp", 0)), int(params.get("recvWindow", 5000)), self.now_ms()
        if ts > now + 1000 or now - ts > window:
            return self._err(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    # --- market data ------------------------------------------------------------------------------------------------
    def _id(self, symbol): return symbol.replace("/", "")
    def _sym(self, market_id):
        for s in self.markets:
            if self._id(s) == market_id: return s
        return None

    def r_time(self, p): return 200, {"serverTime": self.now_ms()}

    def r_exchange_info(self, p):
        out = []
        for s, m in self.markets.items():
            base, quote = s.split("/")
            out.append({"symbol": self._id(s), "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
                        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                        "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                        "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
                        "allowTrailingStop": False, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
                        "isMarginTradingAllowed": False,
                        "filters": [{"filterType": "PRICE_FILTER", "minPrice": m["tick"], "maxPrice": "1000000.00", "tickSize": m["tick"]},
                                    {"filterType": "LOT_SIZE", "minQty": m["min_qty"], "maxQty": "9000.00000000", "stepSize": m["step"]},
                                    {"filterType": "NOTIONAL", "minNotional": m["min_notional"], "applyMinToMarket": True,
                                     "maxNotional": "9000000.00", "applyMaxToMarket": False, "avgPriceMins": 5}],
                        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "NONE",
                        "allowedSelfTradePreventionModes": ["NONE"]})
        return 200, {"timezone": "UTC", "serverTime": self.now_ms(), "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}], "exchangeFilters": [], "symbols": out}

    def r_ticker(self, p):
        s = self._sym(p.get("symbol", ""))
        if s is None: return 400, {"code": -1121, "msg": "Invalid symbol."}
        px = str(self.prices[s])
        return 200, {"symbol": self._id(s), "priceChange": "0", "priceChangePercent": "0", "weightedAvgPrice": px,
                     "prevClosePrice": px, "lastPrice": px, "lastQty": "0", "bidPrice": px, "bidQty": "1", "askPrice": px,
                     "askQty": "1", "openPrice": px, "highPrice": px, "lowPrice": px, "volume": "0", "quoteVolume": "0",
                     "openTime": self.now_ms() - 86_400_000, "closeTime": self.now_ms(), "firstId": 0, "lastId": 0, "count": 0}

    def r_depth(self, p):
        s = self._sym(p.get("symbol", ""))
        px = self.prices[s]
        return 200, {"lastUpdateId": 1, "bids": [[str(px), "1"]], "asks": [[str(px), "1"]]}

    def r_klines(self, p):
        s = self._sym(p.get("symbol", ""))
        if s is None: return 400, {"code": -1121, "msg": "Invalid symbol."}
        start, limit = int(p.get("startTime", 0)), int(p.get("limit", 500))
        rows = [k for k in self.klines[s] if k[0] >= start][:limit]
        return 200, [[k[0], str(k[1]), str(k[2]), str(k[3]), str(k[4]), str(k[5]), k[0] + self.interval_ms - 1, "0", 0, "0", "0", "0"]
                     for k in rows]

    # --- account and orders -----------------------------------------------------------------------------------------
    def r_account(self, p):
        locked = {}
        for o in self.orders.values():
            if o["status"] in ("NEW", "PARTIALLY_FILLED"):
                base, quote = o["sym"].split("/")
                rem = _dec(o["origQty"]) - _dec(o["executedQty"])
                if o["side"] == "BUY": locked[quote] = locked.get(quote, 0) + rem * _dec(o["price"])
                else: locked[base] = locked.get(base, 0) + rem
        return 200, {"makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": True, "canDeposit": True,
                     "updateTime": self.now_ms(), "accountType": "SPOT", "permissions": ["SPOT"],
                     "balances": [{"asset": a, "free": str(v - locked.get(a, 0)), "locked": str(locked.get(a, 0))}
                                  for a, v in self.balances.items()]}

    def _order_json(self, o, full=False):
        keys = ("symbol", "orderId", "orderListId", "clientOrderId", "price", "origQty", "executedQty",
                "cummulativeQuoteQty", "status", "timeInForce", "type", "side")
        d = {k: o[k] for k in keys}
        d.update(stopPrice="0.00000000", icebergQty="0.00000000", time=o["time"], updateTime=o["updateTime"],
                 isWorking=True, workingTime=o["time"], origQuoteOrderQty="0.00000000", selfTradePreventionMode="NONE")
        if full:
            d["transactTime"] = o["time"]
            d["fills"] = [{"price": t["price"], "qty": t["qty"], "commission": t["commission"],
                           "commissionAsset": t["commissionAsset"], "tradeId": t["id"]} for t in self.trades if t["orderId"] == o["orderId"]]
        return d

    def _find(self, p):
        s = self._sym(p.get("symbol", ""))
        cid, oid = p.get("origClientOrderId"), p.get("orderId")
        for o in self.orders.values():
            if o["sym"] == s and ((cid and o["clientOrderId"] == cid) or (oid and str(o["orderId"]) == oid)): return o
        return None

    def _execute(self, o, qty, price, maker=False):
        "Book a trade of `qty` at `price` for order `o`: balances, trade record, order status."
        base, quote = o["sym"].split("/")
        notional = qty * price
        fee = (notional * self.fee_rate).quantize(Decimal("0.00000001"))
        if o["side"] == "BUY": self.balances[base] += qty; self.balances[quote] -= notional + fee
        else: self.balances[base] -= qty; self.balances[quote] += notional - fee
        tid = next(self._tids)
        self.trades.append({"symbol": o["symbol"], "id": tid, "orderId": o["orderId"], "orderListId": -1, "price": str(price),
                            "qty": str(qty), "quoteQty": str(notional), "commission": str(fee), "commissionAsset": quote,
                            "time": self.now_ms(), "isBuyer": o["side"] == "BUY", "isMaker": maker, "isBestMatch": True,
                            "clientOrderId": o["clientOrderId"]})
        done = _dec(o["executedQty"]) + qty
        o["executedQty"] = str(done)
        o["cummulativeQuoteQty"] = str(_dec(o["cummulativeQuoteQty"]) + notional)
        o["status"] = "FILLED" if done >= _dec(o["origQty"]) else "PARTIALLY_FILLED"
        o["updateTime"] = self.now_ms()

    def r_new_order(self, p):
        s = self._sym(p.get("symbol", ""))
        if s is None: return 400, {"code": -1121, "msg": "Invalid symbol."}
        m, cid = self.markets[s], p.get("newClientOrderId") or f"x-{next(self._ids)}"
        if any(o["clientOrderId"] == cid for o in self.orders.values()):
            return 400, {"code": -2010, "msg": "Duplicate order sent."}
        side, typ = p.get("side"), p.get("type")
        try: qty = _dec(p["quantity"])
        except Exception: return 400, {"code": -1102, "msg": "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."}
        step, tick = _dec(m["step"]), _dec(m["tick"])
        if qty < _dec(m["min_qty"]) or (qty / step) != (qty / step).to_integral_value():
            return 400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
        price = _dec(p["price"]) if typ == "LIMIT" else self.prices[s]
        if typ == "LIMIT" and (price / tick) != (price / tick).to_integral_value():
            return 400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"}
        if qty * price < _dec(m["min_notional"]): return 400, {"code": -1013, "msg": "Filter failure: NOTIONAL"}
        base, quote = s.split("/")
        if side == "BUY" and self.balances[quote] < qty * price * (1 + self.fee_rate) or side == "SELL" and self.balances[base] < qty:
            return 400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}
        oid = next(self._ids)
        o = dict(sym=s, symbol=self._id(s), orderId=oid, orderListId=-1, clientOrderId=cid, price=str(price) if typ == "LIMIT" else "0.00000000",
                 origQty=str(qty), executedQty="0", cummulativeQuoteQty="0", status="NEW", timeInForce=p.get("timeInForce", "GTC"),
                 type=typ, side=side, time=self.now_ms(), updateTime=self.now_ms())
        self.orders[oid] = o
        px_now = self.prices[s]
        if typ == "MARKET":
            fill = min(qty, _dec(self.liquidity[s])) if s in self.liquidity else qty
            if fill > 0: self._execute(o, fill, px_now)
            if fill < qty: o["status"] = "EXPIRED"            # Binance: a market order that ran out of liquidity
        elif (side == "BUY" and price >= px_now) or (side == "SELL" and price <= px_now):
            fill = min(qty, _dec(self.liquidity[s])) if s in self.liquidity else qty
            if fill > 0: self._execute(o, fill, px_now)
        self.placed.set()
        return 200, self._order_json(o, full=True)

    def r_get_order(self, p):
        o = self._find(p)
        if o is None: return 400, {"code": -2013, "msg": "Order does not exist."}
        return 200, self._order_json(o)

    def r_cancel(self, p):
        o = self._find(p)
        if o is None or o["status"] not in ("NEW", "PARTIALLY_FILLED"): return 400, {"code": -2011, "msg": "Unknown order sent."}
        o["status"] = "CANCELED"; o["updateTime"] = self.now_ms()
        return 200, dict(self._order_json(o), origClientOrderId=o["clientOrderId"])

    def r_open_orders(self, p):
        s = self._sym(p.get("symbol", "")) if p.get("symbol") else None
        return 200, [self._order_json(o) for o in self.orders.values()
                     if o["status"] in ("NEW", "PARTIALLY_FILLED") and (s is None or o["sym"] == s)]

    def r_my_trades(self, p):
        s = self._sym(p.get("symbol", ""))
        start, limit = int(p.get("startTime", 0)), int(p.get("limit", 500))
        oid = p.get("orderId")
        rows = [t for t in self.trades if t["symbol"] == self._id(s) and t["time"] >= start and (oid is None or str(t["orderId"]) == oid)]
        return 200, [{k: v for k, v in t.items() if k != "clientOrderId"} for t in rows][:limit]
