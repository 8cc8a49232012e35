"""The console's Simplified Chinese catalogue: English message id → 中文."""

from __future__ import annotations

ZH: dict[str, str] = {
    # page furniture
    "96345 Community Service Hotline": "96345 社区服务热线",
    "Community Service Hotline": "社区服务热线",
    "Workspace": "工作台", "Provider map": "服务商地图", "My jobs": "我的任务", "Log out": "退出",
    "Log in": "登录", "Login name": "用户名", "Password": "密码", "Home": "首页",
    "You have logged out.": "您已退出登录。",
    "Wrong login name or password.": "用户名或密码错误。",
    "Too many failed logins. Try again in a few minutes.": "登录失败次数过多，请几分钟后再试。",
    "Please log in.": "请先登录。", "You are not allowed to do that.": "您没有权限执行此操作。",
    "Not found.": "未找到。", "Too many requests.": "请求过于频繁。",
    "Something went wrong; nothing was changed. Please try again.": "出现错误，未做任何更改，请重试。",
    "The form expired or is not from this site. Reload the page and try again.":
        "表单已过期或来源不正确，请刷新页面后重试。",
    # agent state
    "My state": "我的状态", "Available": "空闲可接", "Paused": "暂停", "Wrap-up": "话后处理",
    "Logged out of the queues": "未签入队列", "Pause reason": "暂停原因", "Break": "休息", "Meal": "用餐",
    "Training": "培训", "Calling back": "回拨中", "Pause": "暂停", "Leave the queues": "签出队列",
    "Take the next ticket": "领取下一张工单",
    # workspace
    "Waiting calls": "排队来电", "%(n)s waiting": "%(n)s 人等待", "No calls waiting.": "暂无排队来电。",
    "Phone system not connected.": "电话系统未连接。",
    "New and unclaimed tickets": "新工单（未领取）", "My claimed tickets": "我领取的工单",
    "Out with providers": "派单处理中", "New ticket": "新建工单", "Open and claim": "受理并领取",
    "No ticket is waiting.": "没有待处理的工单。", "None.": "无。",
    "Number": "工单号", "Priority": "优先级", "Status": "状态", "Service": "服务项目", "Caller": "来电人",
    "Description": "诉求描述", "Updated": "更新时间", "Contact number": "联系电话", "Community": "社区/村",
    "Address": "地址", "— choose —": "— 请选择 —",
    "normal": "普通", "high": "较急", "urgent": "紧急", "emergency": "特急",
    # ticket page
    "Ticket": "工单", "Claim": "领取", "Release": "释放",
    "Claimed by you until %(time)s (renewed while this page is open).": "由您处理至 %(time)s（页面打开期间自动续期）",
    "Being handled by another agent until %(time)s.": "其他话务员正在处理，至 %(time)s。",
    "Incoming call: this ticket was put through to you.": "来电弹屏：该来电已接入您的话机。",
    "Caller ID name": "来电显示名称", "Call started": "来电时间", "Queue": "队列", "Resident": "居民",
    "Registered address": "登记地址", "Vulnerable groups": "重点人群", "Elderly living alone": "独居老人",
    "Left-behind child": "留守儿童", "Disabled": "残疾人", "IVR path": "语音导航路径",
    "Earlier tickets": "历史工单", "Request": "诉求信息", "Click the map to set the position.": "点击地图设置位置。",
    "Save": "保存", "Saved.": "已保存。", "Nothing changed.": "没有更改。", "Note": "备注", "Add note": "添加备注",
    "Ticket %(number)s released.": "工单 %(number)s 已释放。", "Timeline": "处理记录", "Offers": "派单记录",
    "automatic": "自动",
    "offered": "待接单", "accepted": "已接单", "declined": "已拒绝", "expired": "已超时", "withdrawn": "已撤回",
    "created": "受理", "status": "状态变更", "note": "备注", "claim": "领取", "release": "释放", "edit": "修改",
    "dispatch": "派单", "offer": "派单", "evaluation": "评价", "call": "通话", "escalation": "升级",
    # dispatch
    "Dispatch": "派单", "Worker": "师傅", "Company": "服务商", "Why": "推荐理由", "Score": "得分",
    "Choose a service first.": "请先选择服务项目。",
    "No provider is available for this service.": "该服务项目暂无可派服务人员。",
    "distance unknown": "距离未知", "%(km)s km away": "距离 %(km)s 公里",
    "%(stars)s stars, %(points)s points": "%(stars)s 星 · %(points)s 积分",
    "%(jobs)s jobs in hand": "手头任务 %(jobs)s 个", "covers this station": "本站服务范围",
    "Offer sent to %(name)s.": "已派单给 %(name)s。",
    # provider page
    "Go on duty": "上班接单", "Go off duty": "下班", "Offers and jobs": "派单与任务", "New offer": "新派单",
    "Answer by %(time)s": "请在 %(time)s 前答复", "Accept": "接单", "Decline": "拒绝",
    "Reason (optional)": "原因（可选）", "On the way": "出发", "On the way.": "已出发。",
    "Arrived, start service": "已到达，开始服务", "Completion report": "完工说明", "Done": "完工",
    "No offers or jobs.": "暂无派单或任务。", "My position": "我的位置",
    "Tap the map to pick your position, or use the phone's location.": "点击地图选择位置，或使用手机定位。",
    "Use my location": "使用当前定位", "Save position": "保存位置", "Position updated.": "位置已更新。",
    "Job %(number)s accepted.": "已接单 %(number)s。", "Offer declined.": "已拒绝派单。",
    "Service started.": "已开始服务。", "Job completed. Thank you!": "已完工，辛苦了！",
    "Status updated.": "状态已更新。",
}
