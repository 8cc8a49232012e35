"""The service catalogue: 14 categories, 126 sub-services (Pinghu 96345's "14大类 120多项").

Each category: (code, name_zh, name_en, queue, category keywords, sub-services).
Each sub-service: (code suffix, name_zh, name_en, extra zh keywords, options).
Options: "p" priority (normal/high/urgent/emergency), "d" minutes to dispatch, "c" minutes to
complete, "q" queue, "np" True when the hotline itself serves it (no provider is dispatched).
Codes are stable: never renumber; retire instead.
"""

from __future__ import annotations

from typing import Any

SubSpec = tuple[str, str, str, list[str], dict[str, Any]]
CategorySpec = tuple[str, str, str, str, list[str], list[SubSpec]]

CATALOGUE: list[CategorySpec] = [
    ("APPL", "家电维修", "Home appliance repair", "general", ["家电", "电器", "坏了"], [
        ("TV", "电视机维修", "TV repair", ["电视", "电视机", "没图像"], {}),
        ("FRIDGE", "冰箱维修", "Refrigerator repair", ["冰箱", "不制冷"], {}),
        ("WASHER", "洗衣机维修", "Washing machine repair", ["洗衣机", "不脱水"], {}),
        ("AIRCON", "空调维修", "Air conditioner repair", ["空调", "不制热", "不制冷"], {}),
        ("WHEATER", "热水器维修", "Water heater repair", ["热水器", "没热水"], {}),
        ("HOOD", "油烟机维修", "Range hood repair", ["油烟机", "抽油烟机"], {}),
        ("STOVE", "燃气灶维修", "Gas stove repair", ["燃气灶", "煤气灶", "打不着火"], {}),
        ("MICRO", "微波炉小家电维修", "Microwave and small appliance repair", ["微波炉", "电饭煲", "小家电"], {}),
        ("ACMOVE", "空调移机加氟", "Air conditioner relocation and recharge", ["移机", "加氟"], {}),
    ]),
    ("LOCK", "开锁换锁", "Locksmith", "general", ["锁", "钥匙", "开锁"], [
        ("DOOR", "开门锁", "Door unlocking", ["开门", "门锁打不开", "锁在门外"], {"p": "high", "d": 15, "c": 90}),
        ("CAR", "开汽车锁", "Car unlocking", ["汽车锁", "车门"], {"p": "high", "d": 15, "c": 90}),
        ("SAFE", "开保险柜", "Safe opening", ["保险柜", "保险箱"], {}),
        ("CORE", "换锁芯", "Lock cylinder replacement", ["锁芯", "换锁"], {}),
        ("SMART", "安装智能锁", "Smart lock installation", ["智能锁", "指纹锁", "密码锁"], {}),
        ("KEY", "配钥匙", "Key duplication", ["配钥匙", "钥匙"], {}),
        ("EBIKE", "开电动车锁", "E-bike unlocking", ["电动车锁", "电瓶车"], {}),
        ("REPAIR", "门锁维修", "Door lock repair", ["门锁坏了", "锁修理"], {}),
        ("MAILBOX", "开信箱柜锁", "Mailbox and cabinet unlocking", ["信箱", "柜子锁"], {}),
    ]),
    ("UTIL", "水电维修", "Plumbing and electrical repair", "general", ["水电", "漏水", "停电"], [
        ("LEAK", "水管漏水", "Leaking pipe", ["漏水", "水管", "渗水"], {"p": "high", "d": 20}),
        ("TAP", "水龙头维修", "Tap repair", ["水龙头", "龙头"], {}),
        ("TOILET", "马桶维修", "Toilet repair", ["马桶漏水", "水箱"], {}),
        ("TRIP", "电路跳闸", "Tripped circuit", ["跳闸", "没电", "短路"], {"p": "high", "d": 20}),
        ("SOCKET", "插座开关维修", "Socket and switch repair", ["插座", "开关"], {}),
        ("LAMP", "灯具安装维修", "Light fitting", ["灯", "灯泡", "灯管"], {}),
        ("METER", "水表电表故障", "Water or electricity meter fault", ["水表", "电表"], {}),
        ("HOTPIPE", "热水管道维修", "Hot water pipe repair", ["热水管", "暖气"], {}),
        ("WIRING", "线路改造", "Rewiring", ["线路", "电线老化"], {}),
    ]),
    ("DRAIN", "管道疏通", "Drain clearing", "general", ["疏通", "堵了", "下水道"], [
        ("SEWER", "下水道疏通", "Sewer unblocking", ["下水道", "下水道堵了", "堵了"], {"p": "high", "d": 20}),
        ("TOILET", "马桶疏通", "Toilet unblocking", ["马桶堵了", "马桶"], {"p": "high", "d": 20}),
        ("FLOOR", "地漏疏通", "Floor drain unblocking", ["地漏"], {}),
        ("SEPTIC", "化粪池清理", "Septic tank cleaning", ["化粪池"], {"c": 2880}),
        ("SINK", "厨房水槽疏通", "Kitchen sink unblocking", ["水槽", "洗菜池"], {}),
        ("BASIN", "面盆浴缸疏通", "Basin and bath unblocking", ["面盆", "浴缸"], {}),
        ("MAIN", "排污管道疏通", "Main sewer line clearing", ["排污管", "主管道"], {}),
        ("CCTV", "管道检测", "Pipe inspection", ["管道检测", "摄像检测"], {"c": 2880}),
        ("RAIN", "雨水管疏通", "Rain pipe clearing", ["雨水管", "落水管"], {}),
    ]),
    ("CLEAN", "家政保洁", "Housekeeping and cleaning", "general", ["保洁", "打扫", "清洗"], [
        ("DAILY", "日常保洁", "Routine cleaning", ["日常保洁", "打扫卫生"], {"c": 2880}),
        ("DEEP", "深度保洁", "Deep cleaning", ["深度保洁", "大扫除"], {"c": 2880}),
        ("NEW", "开荒保洁", "Post-renovation cleaning", ["开荒", "装修后保洁"], {"c": 4320}),
        ("GLASS", "擦玻璃", "Window cleaning", ["擦玻璃", "玻璃"], {"c": 2880}),
        ("HOOD", "油烟机清洗", "Range hood cleaning", ["清洗油烟机"], {"c": 2880}),
        ("AC", "空调清洗", "Air conditioner cleaning", ["清洗空调"], {"c": 2880}),
        ("SOFA", "地毯沙发清洗", "Carpet and sofa cleaning", ["沙发", "地毯"], {"c": 2880}),
        ("MITE", "除螨消毒", "Disinfection and mite removal", ["消毒", "除螨"], {"c": 2880}),
        ("PEST", "除虫灭鼠", "Pest control", ["蟑螂", "老鼠", "白蚁"], {"c": 2880}),
    ]),
    ("ELDER", "养老助老", "Elderly care", "elderly", ["老人", "养老", "助老"], [
        ("MEAL", "助餐送餐", "Meal delivery", ["送餐", "助餐", "吃饭"], {"p": "high"}),
        ("BATH", "助浴服务", "Bathing assistance", ["助浴", "洗澡"], {"c": 2880}),
        ("ESCORT", "陪同就医", "Hospital escort", ["陪同看病", "陪诊"], {"p": "high", "c": 720}),
        ("VISIT", "上门探访", "Home visit", ["探访", "看望"], {"c": 2880}),
        ("CARE", "居家照护", "Home care", ["照护", "护理", "照顾老人"], {"c": 2880}),
        ("ERRAND", "代购代办", "Errands and shopping", ["代购", "代办", "买菜"], {}),
        ("HAIR", "上门理发", "Home haircut", ["理发", "剪头发"], {"c": 2880}),
        ("ALARM", "紧急呼叫设备维护", "Emergency alarm device service", ["呼叫器", "一键通"], {"p": "high"}),
        ("ADAPT", "适老化改造", "Home adaptation for the elderly", ["扶手", "适老化"], {"c": 10080}),
    ]),
    ("MED", "医疗配药", "Medicine and health", "elderly", ["配药", "送药", "看病"], [
        ("DELIVER", "配药送药上门", "Medicine delivery", ["送药", "配药", "买药"], {"p": "high", "c": 480}),
        ("INJECT", "上门打针换药", "Home injection and dressing", ["打针", "换药"], {"p": "high"}),
        ("CHRONIC", "慢病随访", "Chronic disease follow-up", ["慢性病", "随访"], {"c": 2880}),
        ("BOOK", "预约挂号", "Appointment booking", ["挂号", "预约"], {"np": True}),
        ("REHAB", "康复护理", "Rehabilitation nursing", ["康复", "护理"], {"c": 2880}),
        ("CHECK", "测血压血糖", "Blood pressure and sugar check", ["血压", "血糖"], {}),
        ("DEVICE", "医疗器械租借", "Medical equipment loan", ["轮椅", "拐杖", "器械"], {"c": 1440}),
        ("ADVICE", "就医咨询", "Medical advice line", ["就医", "医院"], {"np": True}),
        ("MENTALRX", "精神卫生配药", "Mental health prescriptions", ["精神卫生中心", "精神科药"],
         {"p": "high", "c": 480}),
    ]),
    ("MOVE", "搬家运输", "Moving and transport", "general", ["搬家", "搬运", "运输"], [
        ("HOUSE", "居民搬家", "Household moving", ["搬家"], {"c": 4320}),
        ("FURN", "家具拆装", "Furniture assembly", ["家具", "拆装"], {"c": 2880}),
        ("ITEMS", "物品搬运", "Item carrying", ["搬运", "搬东西"], {"c": 1440}),
        ("JUNK", "垃圾清运", "Rubbish removal", ["垃圾", "清运", "建筑垃圾"], {"c": 1440}),
        ("PIANO", "钢琴搬运", "Piano moving", ["钢琴"], {"c": 4320}),
        ("COURIER", "同城快送", "Same-city courier", ["快送", "跑腿"], {"c": 240}),
        ("STORE", "物品寄存", "Storage", ["寄存"], {"c": 2880}),
        ("VAN", "小型货车租用", "Van hire", ["货车", "面包车"], {"c": 1440}),
        ("APPLI", "大家电搬运", "Large appliance carrying", ["搬冰箱", "搬洗衣机"], {"c": 1440}),
    ]),
    ("HOUSE", "房屋修缮", "Home repair", "general", ["房屋", "修缮", "装修"], [
        ("PAINT", "墙面粉刷", "Wall painting", ["粉刷", "刷墙"], {"c": 4320}),
        ("ROOF", "防水补漏", "Waterproofing and roof leaks", ["补漏", "屋顶漏水", "防水"], {"p": "high"}),
        ("TILE", "瓷砖修补", "Tile repair", ["瓷砖"], {"c": 2880}),
        ("WINDOW", "门窗维修", "Door and window repair", ["门窗", "窗户", "推拉门"], {}),
        ("CEIL", "吊顶修理", "Ceiling repair", ["吊顶", "天花板"], {"c": 2880}),
        ("WOOD", "木工维修", "Carpentry", ["木工", "柜子"], {"c": 2880}),
        ("SCREEN", "纱窗更换", "Window screen replacement", ["纱窗"], {}),
        ("GRILLE", "防盗窗安装", "Security grille installation", ["防盗窗", "防护栏"], {"c": 4320}),
        ("WALL", "墙体开裂修补", "Crack repair", ["开裂", "裂缝"], {"c": 4320}),
    ]),
    ("NET", "通讯数码", "Telecoms and digital", "general", ["网络", "电脑", "手机"], [
        ("BROADBAND", "宽带故障", "Broadband fault", ["宽带", "上不了网", "网络"], {}),
        ("PHONE", "固定电话故障", "Landline fault", ["电话坏了", "座机"], {}),
        ("MOBILE", "手机维修", "Mobile phone repair", ["手机"], {}),
        ("PC", "电脑维修", "Computer repair", ["电脑", "笔记本"], {}),
        ("CATV", "有线电视故障", "Cable TV fault", ["有线电视", "机顶盒"], {}),
        ("CCTV", "监控安装", "CCTV installation", ["监控", "摄像头"], {"c": 2880}),
        ("SMART", "智能家居设置", "Smart home set-up", ["智能家居"], {"c": 2880}),
        ("ROUTER", "路由器设置", "Router set-up", ["路由器", "无线网"], {}),
        ("HELP", "手机使用教学", "Smartphone help for seniors", ["教用手机", "健康码"], {"np": True}),
    ]),
    ("LIFE", "生活服务", "Daily-life services", "general", ["生活", "服务"], [
        ("NANNY", "家庭保姆", "Live-in helper", ["保姆"], {"c": 10080}),
        ("MATERN", "月嫂育婴", "Maternity nurse", ["月嫂", "育婴"], {"c": 10080}),
        ("HOURLY", "钟点工", "Hourly helper", ["钟点工"], {"c": 2880}),
        ("BILLS", "代缴费用", "Bill payment help", ["缴费", "交电费", "交水费"], {}),
        ("WATER", "桶装水配送", "Bottled water delivery", ["桶装水", "送水"], {"c": 240}),
        ("GAS", "液化气配送", "LPG delivery", ["液化气", "煤气罐"], {"c": 240}),
        ("LAUNDRY", "洗衣洗鞋", "Laundry", ["洗衣", "洗鞋"], {"c": 2880}),
        ("PET", "宠物照看", "Pet care", ["宠物", "猫", "狗"], {"c": 2880}),
        ("FLOWER", "鲜花礼品速递", "Flower and gift delivery", ["鲜花", "礼品"], {"c": 480}),
    ]),
    ("LEGAL", "法律咨询", "Legal advice", "legal", ["法律", "律师", "纠纷"], [
        ("FAMILY", "婚姻家庭法律咨询", "Family law advice", ["离婚", "抚养"], {"np": True}),
        ("LABOUR", "劳动纠纷咨询", "Employment disputes", ["工资", "劳动", "欠薪"], {"np": True}),
        ("NEIGH", "邻里纠纷调解", "Neighbour disputes", ["邻居", "邻里"], {"np": True}),
        ("RENT", "房产租赁咨询", "Housing and tenancy", ["租房", "房东", "房产"], {"np": True}),
        ("CONSUMER", "消费维权", "Consumer rights", ["维权", "投诉商家", "退货"], {"np": True}),
        ("AID", "法律援助申请", "Legal aid application", ["法律援助"], {"np": True}),
        ("WILL", "遗嘱继承咨询", "Wills and inheritance", ["遗嘱", "继承"], {"np": True}),
        ("TRAFFIC", "交通事故咨询", "Traffic accident advice", ["交通事故", "车祸"], {"np": True}),
        ("CONTRACT", "合同纠纷咨询", "Contract disputes", ["合同"], {"np": True}),
    ]),
    ("MIND", "心理情感", "Counselling", "psychological", ["心理", "情绪", "咨询"], [
        ("TALK", "心理健康疏导", "Psychological support", ["心理疏导", "心情不好", "压力大"], {"np": True}),
        ("MARRIAGE", "婚姻情感咨询", "Marriage and relationship counselling", ["婚姻", "感情", "夫妻"],
         {"np": True, "q": "marriage"}),
        ("PARENT", "亲子教育咨询", "Parenting advice", ["孩子", "亲子", "教育"], {"np": True}),
        ("YOUTH", "青少年心理", "Youth counselling", ["青少年", "学生"], {"np": True}),
        ("SENIOR", "老年心理关怀", "Counselling for the elderly", ["孤独", "老年心理"], {"np": True}),
        ("CRISIS", "心理危机干预", "Crisis intervention", ["想不开", "轻生", "危机"],
         {"np": True, "p": "emergency", "d": 2, "c": 60}),
        ("SLEEP", "失眠焦虑疏导", "Insomnia and anxiety", ["失眠", "焦虑"], {"np": True}),
        ("FAMILY", "家庭矛盾调解", "Family conflict mediation", ["吵架", "家庭矛盾"], {"np": True}),
        ("GRIEF", "哀伤辅导", "Bereavement support", ["去世", "哀伤"], {"np": True}),
    ]),
    ("EMERG", "应急救助", "Emergency help", "emergency", ["紧急", "救命", "求助"], [
        ("ELDER", "独居老人紧急求助", "Elderly living alone in distress", ["摔倒", "老人摔倒", "救命"],
         {"p": "emergency", "d": 5, "c": 60}),
        ("GAS", "燃气泄漏", "Gas leak", ["燃气泄漏", "煤气味", "漏气"], {"p": "emergency", "d": 5, "c": 60}),
        ("LIFT", "电梯困人", "Trapped in a lift", ["电梯", "困电梯"], {"p": "emergency", "d": 5, "c": 60}),
        ("ILL", "突发疾病", "Sudden illness", ["突发", "晕倒", "心脏"], {"p": "emergency", "d": 5, "c": 60}),
        ("CHILD", "留守儿童求助", "Left-behind child in need", ["孩子一个人", "留守儿童"],
         {"p": "emergency", "d": 5, "c": 120}),
        ("BURST", "水管爆裂", "Burst water pipe", ["爆管", "水管爆了", "淹水"], {"p": "urgent", "d": 10, "c": 120}),
        ("OUTAGE", "断水断电应急", "Water or power outage", ["停水", "断电"], {"p": "urgent", "d": 10, "c": 240}),
        ("MISSING", "走失寻人", "Missing person", ["走失", "找不到人"], {"p": "emergency", "d": 5, "c": 240}),
        ("DISASTER", "台风防汛求助", "Typhoon and flood help", ["台风", "防汛", "进水"], {"p": "urgent", "d": 10}),
    ]),
]

# Words that mean "emergency" at any menu (in addition to the EMERG keywords).
EMERGENCY_WORDS_ZH = ["紧急", "救命", "急救", "着火", "快来人"]
EMERGENCY_WORDS_EN = ["emergency", "help", "urgent"]
