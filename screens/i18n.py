"""Console labels in English and Vietnamese.

The catalogue's own words (actions, contracts) come from ``console.catalogue.vocabulary`` so a
catalogue with other numbers keeps them; everything the console itself says is here, keyed by a
short English id so a missing translation falls back to English instead of failing.
"""

from __future__ import annotations

import locale
import os

LANGUAGES = ("en", "vi")

_VI: dict[str, str] = {
    "catalogue": "Danh mục",
    "call": "Gọi API",
    "events": "Sự kiện",
    "tx": "Giao dịch",
    "overview": "Tổng quan",
    "check": "Kiểm tra",
    "profile": "hồ sơ",
    "gateway": "gateway",
    "token": "token",
    "kafka": "kafka",
    "not connected": "chưa kết nối",
    "connecting": "đang kết nối",
    "up": "hoạt động",
    "down": "ngừng",
    "connected": "đã kết nối",
    "expires in": "hết hạn sau",
    "no token": "chưa có token",
    "read-only": "chỉ đọc",
    "operations": "thao tác",
    "rows": "dòng",
    "method": "phương thức",
    "path": "đường dẫn",
    "action": "hành động",
    "contracts": "cam kết",
    "source": "nguồn",
    "lint": "kiểm lỗi",
    "row": "dòng",
    "page": "trang",
    "result": "kết quả",
    "policy": "ghi chú",
    "filter": "lọc",
    "jump": "chuyển",
    "keys": "phím",
    "back": "quay lại",
    "leave editor": "rời ô soạn",
    "clear filter": "xóa bộ lọc",
    "toggle rows": "dòng/thao tác",
    "open call": "mở lệnh gọi",
    "send": "gửi",
    "copy curl": "chép curl",
    "pause": "tạm dừng",
    "resume": "tiếp tục",
    "waiting": "đang chờ",
    "detail": "chi tiết",
    "open tx": "mở giao dịch",
    "load skipped": "tải phần bỏ qua",
    "open event": "mở sự kiện",
    "rerun": "chạy lại",
    "export": "xuất",
    "search": "tìm",
    "status": "trạng thái",
    "time": "thời gian",
    "attempts": "lần thử",
    "headers": "tiêu đề",
    "body": "nội dung",
    "response": "phản hồi",
    "request": "yêu cầu",
    "rolled back": "đã hoàn tác",
    "committed": "đã ghi",
    "event": "sự kiện",
    "version": "phiên bản",
    "format": "định dạng",
    "record id": "mã bản ghi",
    "outcome": "kết quả",
    "calls/min": "lượt gọi/phút",
    "SLA breaches": "vi phạm SLA",
    "outcomes": "kết quả",
    "recent rollbacks and retries": "hoàn tác và thử lại gần đây",
    "no findings": "không có lỗi",
    "of": "trên",
    "shown": "hiển thị",
    "hidden in read-only mode": "bị ẩn ở chế độ chỉ đọc",
    "not offered in read-only mode": "không có ở chế độ chỉ đọc",
    "confirm": "xác nhận",
    "cancel": "hủy",
    "yes": "có",
    "no": "không",
    "quit": "thoát",
    "palette": "bảng lệnh",
    "nothing yet": "chưa có gì",
    "sending": "đang gửi",
    "copied": "đã chép",
    "run apilog check": "chạy `apilog check`",
    "views": "màn hình",
    "unknown view": "không có màn hình",
    "deletes data": "xóa dữ liệu",
    "run checks": "chạy kiểm tra",
    "the probes write and delete test records": "các phép thử ghi và xóa bản ghi thử",
    "passed": "đạt",
    "failed": "không đạt",
    "not a success": "không thành công",
    "not-applicable": "không áp dụng",
    "catalogue-defect": "lỗi danh mục",
    "skipped": "bỏ qua",
    "planned": "dự kiến",
    "live": "trực tiếp",
    "ok": "đọc xong",
    "rejected": "bị từ chối",
    "rate limited": "bị giới hạn",
    "retries exhausted": "hết lượt thử",
    "interrupted": "bị gián đoạn",
    "pending": "đang chờ",
    "breaker": "broker",
    "p50/p95": "p50/p95",
    "calls": "lượt gọi",
    "retried": "thử lại",
    # Issue 12, console-a: prompt, focus, dialogs, check view, legend, keys, faults, overview.
    "go to pane": "tới ô",
    "badges": "ký hiệu",
    "A check is running": "Đang chạy kiểm tra",
    "Quit and stop it?": "Thoát và dừng kiểm tra?",
    "not available in read-only mode: it changes data": "không dùng được ở chế độ chỉ đọc: "
    "thao tác này thay đổi dữ liệu",
    "nothing to act on here yet": "chưa có gì để thao tác ở đây",
    "Send again": "Gửi lại",
    "it changes data again, as the first call did": "lệnh này thay đổi dữ liệu lần nữa, "
    "như lần gọi đầu",
    "Sent again": "Đã gửi lại",
    "fault preset…": "giả lập lỗi…",
    "fail twice, then succeed": "lỗi 2 lần rồi thành công",
    "fail after the write (rolls back)": "lỗi sau khi ghi (hoàn tác)",
    "delay past the SLA": "chậm quá SLA",
    "abort with 503": "dừng với 503",
    "send the call first (ctrl+s)": "hãy gửi lệnh gọi trước (ctrl+s)",
    "this call published no event": "lệnh gọi này không phát sự kiện",
    "not run yet": "chưa chạy",
    "read-only: the probes write, so no run from here": "chỉ đọc: các phép thử ghi dữ liệu, "
    "nên không chạy từ đây",
    "read-only mode: the probes write and delete test records; "
    "`apilog check` runs the read-only probes": "chế độ chỉ đọc: các phép thử ghi và xóa bản ghi "
    "thử; `apilog check` chạy các phép thử chỉ đọc",
    "running": "đang chạy",
    "only": "chỉ",
    "stop check": "dừng kiểm tra",
    "Stop the check run?": "Dừng lượt kiểm tra?",
    "done; the verdicts so far stay on screen.": "đã xong; các kết quả đến giờ vẫn giữ trên màn "
    "hình.",
    "check stopped": "đã dừng kiểm tra",
    "verdict": "kết luận",
    "catalogue findings on this operation (the detail lists them)": "lỗi danh mục của thao tác "
    "này (xem chi tiết)",
    "OAuth2 token required": "cần token OAuth2",
    "every call in the transaction log": "mọi lệnh gọi có trong nhật ký giao dịch",
    "paused": "đã tạm dừng",
    "outcomes/min": "kết quả/phút",
    "latency per operation (p50/p95 ms, p95 over the hour)": "độ trễ theo thao tác "
    "(p50/p95 ms, p95 trong giờ qua)",
    "contracts failed last": "cam kết không đạt gần đây",
    "none failed in the last hour": "không có vi phạm trong giờ qua",
    "not a success, per minute": "không thành công, theo phút",
    # -- console-b: filters, empty states, acts on a logged call, mine only, response pane --
    "still": "vẫn lọc",
    "no operations match": "không có thao tác nào khớp",
    "no transaction log": "chưa mở nhật ký giao dịch",
    "opening the log…": "đang mở nhật ký…",
    "no transactions yet": "chưa có giao dịch nào",
    "no transactions match": "không có giao dịch nào khớp",
    "no transactions from this console yet": "console này chưa gọi lần nào",
    "newest": "mới nhất",
    "scanned": "đã xét",
    "mine only": "chỉ của tôi",
    "all": "tất cả",
    "all origins": "mọi nguồn",
    "others hidden": "của nguồn khác bị ẩn",
    "not in this log": "không có trong nhật ký này",
    "not in the catalogue": "không có trong danh mục",
    "copy as curl": "chép thành curl",
    "edit & resend": "sửa và gửi lại",
    "no event feed": "không có luồng sự kiện",
    "no events yet": "chưa có sự kiện nào",
    "no events match": "không có sự kiện nào khớp",
    "from checks/CLI hidden": "của kiểm tra/CLI bị ẩn",
    "only checks/CLI events so far": "mới chỉ có sự kiện của kiểm tra/CLI",
    "event not received yet": "chưa nhận được sự kiện",
    "line": "dòng",
    "column": "cột",
    "not sent": "chưa gửi",
    # The response pane's gateway log tab.
    "log": "nhật ký gateway",
    "the gateway's record of this call loads when this tab opens": "bản ghi của gateway cho lệnh "
    "gọi này được tải khi mở thẻ này",
    "no request id to look up": "không có mã yêu cầu để tra",
}


def default_language() -> str:
    """``vi`` when the locale says Vietnamese (LC_ALL, LC_MESSAGES, LANG), else ``en``."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "vi" if value.lower().startswith("vi") else "en"
    code = (locale.getlocale()[0] or "").lower()
    return "vi" if code.startswith("vi") else "en"


class Labels:
    """``labels("send")`` → the label in the chosen language; unknown ids come back as given."""

    def __init__(self, lang: str = "en") -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
        self.lang = lang

    def __call__(self, key: str) -> str:
        if self.lang == "vi":
            return _VI.get(key, key)
        return key

    def term(self, slug: str, params: dict | None = None) -> str:
        """A catalogue word (action or contract) in this language, parameters filled in."""
        from console.catalogue.vocabulary import term

        try:
            return term(slug).label(self.lang, params)
        except KeyError:
            return slug
