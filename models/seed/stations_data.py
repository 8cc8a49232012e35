"""Pinghu's stations: the city centre, its 3 sub-districts and 6 towns, sample communities.

Positions are approximate (WGS-84), good enough for the demo map and distance ranking.
"""

from __future__ import annotations

CITY = ("PH", "平湖市96345社区服务中心", "Pinghu 96345 Community Service Centre", 30.6985, 121.0155)

# (code, name_zh, name_en, lat, lon, [(community code suffix, name_zh, name_en, dlat, dlon)])
TOWNS: list[tuple[str, str, str, float, float, list[tuple[str, str, str, float, float]]]] = [
    ("DH", "当湖街道", "Danghu Subdistrict", 30.7010, 121.0180, [
        ("JSHT", "金色华庭社区", "Jinse Huating Community", 0.006, 0.004),
        ("DXM", "东湖社区", "Donghu Community", -0.004, 0.010),
        ("XM", "西门社区", "Ximen Community", 0.002, -0.012),
    ]),
    ("ZD", "钟埭街道", "Zhongdai Subdistrict", 30.7300, 121.0650, [
        ("ZDS", "钟埭社区", "Zhongdai Community", 0.003, 0.002),
        ("YS", "沿线村", "Yanxian Village", -0.010, 0.012),
        ("HB", "花园社区", "Huayuan Community", 0.008, -0.006),
    ]),
    ("CQ", "曹桥街道", "Caoqiao Subdistrict", 30.6600, 120.9600, [
        ("CQS", "曹桥社区", "Caoqiao Community", 0.002, 0.003),
        ("MQ", "马厩村", "Majiu Village", -0.012, -0.008),
        ("BJ", "百寿村", "Baishou Village", 0.010, 0.011),
    ]),
    ("ZP", "乍浦镇", "Zhapu Town", 30.5960, 121.0900, [
        ("ZPS", "乍浦社区", "Zhapu Community", 0.002, 0.002),
        ("TS", "汤山社区", "Tangshan Community", -0.008, 0.010),
        ("HW", "海湾村", "Haiwan Village", 0.010, -0.012),
    ]),
    ("XD", "新埭镇", "Xindai Town", 30.7780, 120.9700, [
        ("XDS", "新埭社区", "Xindai Community", 0.002, 0.003),
        ("ZZ", "泖口村", "Maokou Village", 0.012, -0.010),
        ("XY", "鱼圻塘村", "Yuqitang Village", -0.010, 0.012),
    ]),
    ("XC", "新仓镇", "Xincang Town", 30.6450, 121.0600, [
        ("XCS", "新仓社区", "Xincang Community", 0.003, 0.002),
        ("SL", "三叉河村", "Sanchahe Village", -0.011, 0.009),
        ("PL", "芦湾村", "Luwan Village", 0.009, -0.011),
    ]),
    ("GC", "广陈镇", "Guangchen Town", 30.7600, 121.1300, [
        ("GCS", "广陈社区", "Guangchen Community", 0.002, 0.002),
        ("SG", "山塘村", "Shantang Village", 0.011, 0.010),
        ("TX", "泗泾村", "Sijing Village", -0.010, -0.012),
    ]),
    ("LD", "林埭镇", "Lindai Town", 30.6950, 120.9300, [
        ("XJD", "徐家埭社区", "Xujiadai Community", 0.004, 0.003),
        ("FS", "乍王村", "Zhawang Village", -0.012, 0.008),
        ("HL", "林埭社区", "Lindai Community", 0.002, -0.004),
    ]),
    ("DSG", "独山港镇", "Dushangang Town", 30.6200, 121.1800, [
        ("DSGS", "独山港社区", "Dushangang Community", 0.003, 0.002),
        ("QT", "全塘社区", "Quantang Community", -0.010, 0.012),
        ("HG", "黄姑社区", "Huanggu Community", 0.012, -0.010),
    ]),
]
