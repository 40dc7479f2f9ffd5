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
