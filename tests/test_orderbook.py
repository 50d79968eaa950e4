"""Property tests for diffmarket.market.orderbook: long random message streams against a deliberately simple reference book."""
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from diffmarket.market.orderbook import LimitOrderBook, OrderError


class RefBook:
    """The simplest correct book: a flat list of resting orders, scanned and sorted on every message."""
    def __init__(self, stp="cancel_newest"):
        self.orders = []          # dicts: id, side, price, qty, owner, seq
        self.seq = 0
        self.stp = stp
        self.status = None

    def _crosses(self, side, limit, o):
        return limit is None or (o["price"] <= limit if side == 1 else o["price"] >= limit)

    def _queue(self, side, limit):
        opp = [o for o in self.orders if o["side"] == -side and self._crosses(side, limit, o)]
        return sorted(opp, key=lambda o: (o["price"] if side == 1 else -o["price"], o["seq"]))

    def _fillable(self, side, limit, owner):
        got = 0
        for o in self._queue(side, limit):
            if owner is not None and self.stp != "none" and o["owner"] == owner:
                if self.stp == "cancel_newest": break
                continue
            got += o["qty"]
        return got

    def _match(self, oid, side, limit, qty, owner):
        fills = []
        for o in self._queue(side, limit):
            if qty == 0: break
            if owner is not None and self.stp != "none" and o["owner"] == owner:
                if self.stp == "cancel_newest": return fills, qty, True
                self.orders.remove(o); continue
            q = min(qty, o["qty"]); o["qty"] -= q; qty -= q
            fills.append((o["id"], oid, o["price"], q))
            if o["qty"] == 0: self.orders.remove(o)
        return fills, qty, False

    def limit(self, oid, side, price, qty, owner, tif="GTC", post_only=False):
        if post_only and self._queue(side, price):
            self.status = "rejected"; return []
        if tif == "FOK" and self._fillable(side, price, owner) < qty:
            self.status = "cancelled"; return []
        fills, left, stopped = self._match(oid, side, price, qty, owner)
        if left == 0: self.status = "filled"
        elif tif == "GTC" and not stopped:
            self.seq += 1
            self.orders.append(dict(id=oid, side=side, price=price, qty=left, owner=owner, seq=self.seq, post_only=post_only))
            self.status = "rested"
        else: self.status = "cancelled"
        return fills

    def market(self, oid, side, qty, owner):
        fills, left, _ = self._match(oid, side, None, qty, owner)
        self.status = "filled" if left == 0 else "cancelled"
        return fills

    def cancel(self, oid):
        for o in self.orders:
            if o["id"] == oid: self.orders.remove(o); return True
        return False

    def modify(self, oid, qty, price):
        o = next((o for o in self.orders if o["id"] == oid), None)
        if o is None: return None
        if price == o["price"] and qty <= o["qty"]:
            o["qty"] = qty; return []
        self.orders.remove(o)                  # a repriced or larger order is a new one with the same flags
        return self.limit(oid, o["side"], price, qty, o["owner"], post_only=o["post_only"])

    def depth(self):
        out = {}
        for name, side in (("bids", 1), ("asks", -1)):
            lv = {}
            for o in self.orders:
                if o["side"] == side: lv[o["price"]] = lv.get(o["price"], 0) + o["qty"]
            out[name] = sorted(lv.items(), reverse=(side == 1))
        return out


# one message: (kind, side, price offset, qty, owner, tif, post_only, target)
message = st.tuples(
    st.sampled_from(["limit"] * 6 + ["market", "cancel", "cancel", "modify"]),
    st.sampled_from([1, -1]), st.integers(-5, 5), st.integers(1, 30), st.integers(0, 3),
    st.sampled_from(["GTC", "GTC", "GTC", "IOC", "FOK"]), st.booleans(), st.integers(0, 10_000))


def run_stream(msgs, stp):
    book, ref = LimitOrderBook(tick_size=0.01, stp=stp), RefBook(stp=stp)
    submitted = filled = cancelled = 0
    next_id, ids = 0, []
    for kind, side, off, qty, owner, tif, post_only, target in msgs:
        entered = {o["id"]: o["seq"] for o in ref.orders}    # when each resting order joined its queue
        if kind in ("limit", "market"):
            oid = next_id; next_id += 1; ids.append(oid)
            price = 100 + off * side * -1          # buys around 100 and below, sells around 100 and above
            submitted += qty
            if kind == "limit":
                got = book.submit_limit(oid, side, price, qty, owner=owner, tif=tif, post_only=post_only)
                want = ref.limit(oid, side, price, qty, owner, tif=tif, post_only=post_only)
            else:
                got = book.submit_market(oid, side, qty, owner=owner)
                want = ref.market(oid, side, qty, owner)
            assert book.last_status == ref.status
        elif kind == "cancel":
            if not ids: continue
            oid = ids[target % len(ids)]
            assert book.cancel(oid) == ref.cancel(oid)
            got = want = []
        else:
            if not ids: continue
            oid = ids[target % len(ids)]
            r = book.order(oid)
            new_price = (r.price + off) if r is not None else 100
            got = book.modify(oid, qty=qty, price_ticks=new_price)
            want = ref.modify(oid, qty, new_price)
            if got is None: assert want is None; continue
            if r is not None and new_price == r.price and qty <= r.qty: pass
            elif r is not None: submitted += qty   # resubmitted as a new order; the old rest counts as cancelled
        assert [(f.maker_order_id, f.taker_order_id, f.price, f.qty) for f in got] == want
        # price-time priority: prices never get better for the taker, and within a price older makers fill first
        for a, b in zip(got, got[1:]):
            assert (b.price - a.price) * a.taker_side >= 0
            if b.price == a.price: assert entered[a.maker_order_id] <= entered[b.maker_order_id]
        for f in got:
            assert f.qty > 0
            filled += 2 * f.qty                           # both maker and taker order are filled by qty
            if stp != "none": assert f.maker_owner != f.taker_owner
        # the resting book is never crossed and equals the reference
        bb, ba = book.best_bid(), book.best_ask()
        if bb and ba: assert bb[0] < ba[0]
        d = book.depth(1000)
        assert d == ref.depth()
        assert all(q > 0 for lv in d.values() for _, q in lv)
        for own in range(4):                              # each owner's resting orders and sizes per side
            mine = sorted((o for o in ref.orders if o["owner"] == own), key=lambda o: o["seq"])
            assert book.orders_of(own) == [o["id"] for o in mine]
            for sd in (1, -1): assert book.owner_qty(own, sd) == sum(o["qty"] for o in mine if o["side"] == sd)
    # quantity is conserved: submitted = filled + resting + cancelled
    assert book.submitted_qty == submitted
    assert submitted == filled + book.resting_qty() + book.cancelled_qty
    return book, ref


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message, min_size=50, max_size=400))
def test_matches_reference_cancel_newest(msgs):
    run_stream(msgs, "cancel_newest")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message, min_size=50, max_size=400), st.sampled_from(["cancel_oldest", "none"]))
def test_matches_reference_other_stp(msgs, stp):
    run_stream(msgs, stp)


# --- the compiled stream engine equals the book ------------------------------------------------------------------

from diffmarket.market.orderbook import match_stream, LIMIT, CANCEL, MARKET

stream_msg = st.tuples(st.sampled_from([LIMIT] * 6 + [CANCEL] * 3 + [MARKET]), st.sampled_from([1, -1]),
                       st.integers(-6, 6), st.integers(1, 40), st.integers(0, 10_000))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(stream_msg, min_size=1, max_size=400))
def test_compiled_stream_matches_book(msgs):
    book = LimitOrderBook(tick_size=0.01)
    kind, oid, side, price, qty = [], [], [], [], []
    ids = []
    for i, (k, s, off, q, target) in enumerate(msgs):
        if k == CANCEL:
            if not ids: continue
            o = ids[target % len(ids)]
            book.cancel(o); kind.append(k); oid.append(o); side.append(0); price.append(0); qty.append(0)
            continue
        p = 100 - s * off
        if k == LIMIT: book.submit_limit(i, s, p, q)
        else: book.submit_market(i, s, q)
        ids.append(i); kind.append(k); oid.append(i); side.append(s); price.append(p if k == LIMIT else 0); qty.append(q)
    res = match_stream(kind, oid, side, price, qty)
    want = [(t.maker_order_id, t.taker_order_id, t.price, t.qty) for t in book.tape]
    got = list(zip(res.maker_order_id.tolist(), res.taker_order_id.tolist(), res.price.tolist(), res.qty.tolist()))
    assert got == want
    assert res.depth == book.depth(10_000)


def test_compiled_stream_rejects_bad_messages():
    with pytest.raises(OrderError, match="unique"): match_stream([LIMIT, LIMIT], [1, 1], [1, 1], [100, 100], [1, 1])
    with pytest.raises(OrderError, match="side"): match_stream([LIMIT], [0], [2], [100], [1])
