"""Static material for the demo county (411702 驿城区): regions, people, helpers, measures.

Region names are illustrative; the codes are well-formed 12-digit 统计用区划代码 under 411702.
"""

from __future__ import annotations

PROVINCE = ("410000000000", "河南省")
CITY = ("411700000000", "驻马店市")
COUNTY = ("411702000000", "驿城区")
COUNTY_CODE = "411702"

TOWNSHIPS: list[tuple[str, str]] = [
    ("411702105000", "古城乡"),
    ("411702106000", "胡庙乡"),
]
# (village code, name, dominant surname)
VILLAGES: list[tuple[str, str, str]] = [
    ("411702105201", "张庄村", "张"),
    ("411702105202", "李楼村", "李"),
    ("411702105203", "王店村", "王"),
    ("411702106201", "刘湾村", "刘"),
    ("411702106202", "陈寨村", "陈"),
]
HOUSEHOLDS_PER_VILLAGE = 40
GROUPS = ["一组", "二组", "三组", "四组", "五组", "六组"]

# Village centres (lat, lng) near Zhumadian.
VILLAGE_CENTRES = {
    "411702105201": (32.9612, 113.9521),
    "411702105202": (32.9488, 113.9714),
    "411702105203": (32.9705, 113.9302),
    "411702106201": (33.0321, 114.0905),
    "411702106202": (33.0187, 114.1122),
}

# username: (role, name, scopes, unit, phone)
DEMO_USERS: dict[str, tuple[str, str, list[str], str, str]] = {
    "demo_cadre": ("village_cadre", "张卫东", ["411702105201"], "张庄村村委会", "13839601201"),
    "demo_cadre2": ("village_cadre", "李红梅", ["411702105202"], "李楼村村委会", "13839601202"),
    "demo_secretary": ("first_secretary", "王志远", ["411702105201"], "驻马店市农业农村局",
                       "13939602201"),
    "demo_village_secretary": ("village_secretary", "张国庆", ["411702105201"],
                               "张庄村党支部", "13839601211"),
    "demo_clerk": ("township_clerk", "刘丽娟", ["411702105"], "古城乡人民政府", "13839603105"),
    "demo_clerk2": ("township_clerk", "陈建华", ["411702106"], "胡庙乡人民政府", "13839603106"),
    "demo_admin": ("county_admin", "赵国平", ["411702"], "驿城区乡村振兴局", "03962601702"),
}
# Which demo users work in which village (visitors and 五清 checkers).
VILLAGE_STAFF = {
    "411702105201": ["demo_cadre", "demo_secretary"],
    "411702105202": ["demo_cadre2"],
}

SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱",
            "高", "郭", "马", "宋", "郑", "韩", "冯", "董", "程", "曹", "袁", "彭", "吕", "任"]
MALE_OLD = ["建国", "国强", "卫东", "红军", "保国", "德福", "长江", "永刚", "建华", "志刚", "文斌",
            "金山", "玉林", "新民", "春生", "树林", "振华", "广才", "满仓", "福来"]
FEMALE_OLD = ["秀英", "桂兰", "玉兰", "凤英", "春梅", "秀兰", "桂英", "玉梅", "素芳", "翠花",
              "淑珍", "爱华", "红霞", "丽娟", "海燕", "雪梅", "凤琴", "巧云", "金凤", "月娥"]
MALE_YOUNG = ["子豪", "浩然", "宇航", "俊杰", "明轩", "一鸣", "博文", "家乐", "天佑", "晨阳",
              "志远", "嘉豪", "梓轩", "思源", "宏宇"]
FEMALE_YOUNG = ["欣怡", "梓涵", "雨萱", "思琪", "佳怡", "诗涵", "可馨", "雨桐", "紫萱", "梦瑶",
                "晓雪", "静怡", "心怡", "语嫣", "若曦"]

# (name, unit, position, phone) of helpers (帮扶责任人) from county and township offices.
HELPERS: list[tuple[str, str, str, str]] = [
    ("孙文博", "驿城区农业农村局", "科员", "13598961001"),
    ("周晓燕", "驿城区教育局", "副科长", "13598961002"),
    ("吴志强", "驿城区卫生健康委员会", "科员", "13598961003"),
    ("郑海涛", "驿城区人力资源和社会保障局", "股长", "13598961004"),
    ("冯丽华", "驿城区民政局", "科员", "13598961005"),
    ("韩立军", "驿城区住房和城乡建设局", "副局长", "13598961006"),
    ("董美玲", "驿城区财政局", "科员", "13598961007"),
    ("程国栋", "驿城区水利局", "科员", "13598961008"),
    ("曹新宇", "古城乡人民政府", "副乡长", "13598961009"),
    ("袁晓东", "古城乡人民政府", "乡村振兴专干", "13598961010"),
    ("彭丽萍", "胡庙乡人民政府", "组织委员", "13598961011"),
    ("吕建伟", "胡庙乡人民政府", "科员", "13598961012"),
    ("任雪芳", "驿城区农村商业银行", "客户经理", "13598961013"),
    ("宋振宇", "驿城区交通运输局", "科员", "13598961014"),
    ("高红英", "驿城区妇女联合会", "副主席", "13598961015"),
    ("马俊峰", "驿城区自然资源局", "科员", "13598961016"),
]

# cause: relative weight when drawing a household's causes.
CAUSE_WEIGHTS = {
    "illness": 30, "disability": 12, "schooling": 10, "no_capital": 12, "no_skills": 10,
    "no_labor": 10, "disaster": 4, "no_land": 3, "accident": 3, "no_water": 2,
    "poor_transport": 2, "low_motivation": 2, "unstable_job": 3, "business_failure": 2,
    "marriage": 1, "funeral": 1, "other": 1,
}
# cause → the measures (category, item, provider) that answer it, best first.
MEASURES_FOR_CAUSE: dict[str, list[tuple[str, str, str]]] = {
    "illness": [("health", "家庭医生签约服务", "驿城区卫生健康委员会"),
                ("health", "大病专项救治", "驿城区卫生健康委员会")],
    "disability": [("health", "残疾人康复服务", "驿城区残疾人联合会"),
                   ("social_security", "重度残疾人护理补贴", "驿城区民政局")],
    "schooling": [("compulsory_education", "义务教育阶段生活补助", "驿城区教育局"),
                  ("other_education", "雨露计划职业教育补助", "驿城区乡村振兴局")],
    "no_capital": [("finance", "脱贫人口小额信贷5万元", "驿城区农村商业银行"),
                   ("industry", "特色种植产业奖补（花生）", "驿城区农业农村局")],
    "no_skills": [("employment", "技能培训（电焊）", "驿城区人力资源和社会保障局"),
                  ("employment", "转移就业务工交通补助", "驿城区人力资源和社会保障局")],
    "no_labor": [("social_security", "纳入农村低保", "驿城区民政局"),
                 ("public_job", "公益岗位（村保洁员）", "乡人民政府")],
    "disaster": [("housing", "灾后住房修缮", "驿城区住房和城乡建设局"),
                 ("social_aid", "临时救助", "驿城区民政局")],
    "no_land": [("industry", "入股村集体光伏电站分红", "驿城区农业农村局")],
    "accident": [("social_aid", "临时救助", "驿城区民政局")],
    "no_water": [("water", "安全饮水入户工程", "驿城区水利局")],
    "poor_transport": [("infrastructure", "村组道路硬化", "驿城区交通运输局")],
    "low_motivation": [("employment", "扶志教育与就业推荐", "乡人民政府")],
    "unstable_job": [("employment", "就业帮扶车间务工", "驿城区人力资源和社会保障局")],
    "business_failure": [("industry", "养殖产业技术指导与奖补", "驿城区农业农村局")],
    "marriage": [("social_security", "纳入农村低保", "驿城区民政局")],
    "funeral": [("social_aid", "临时救助", "驿城区民政局")],
    "other": [("social_aid", "爱心超市积分兑换", "乡人民政府")],
}
VISIT_PURPOSES = ["日常走访", "政策宣传", "收入核算", "防返贫监测排查", "帮扶措施落实情况核实",
                  "五清核查"]
VISIT_NOTES = [
    "家中生活正常，两不愁三保障均有保障。",
    "了解家庭收入情况，核对帮扶手册与系统信息一致。",
    "宣传小额信贷和雨露计划政策，户主表示了解。",
    "户主慢性病用药正常，家庭医生每季度随访。",
    "子女在外务工，收入稳定，老人在家身体尚可。",
    "核实今年种植收入，花生亩产约五百斤。",
    "房屋安全，饮水正常，未发现返贫风险。",
    "公益岗位工资按月发放，户主满意。",
]
MIGRANT_PLACES = ["郑州市", "广东省东莞市", "江苏省苏州市", "浙江省宁波市", "上海市",
                  "驻马店市区", "北京市"]
ROAD_TYPES = ["水泥路", "柏油路", "砂石路"]
TOILETS = ["水冲式卫生厕所", "三格化粪池式厕所", "旱厕"]
FUELS = ["液化气", "电", "柴草", "天然气"]
