"""Sample identities for the simulators, the demo and the tests. Fictitious people; every
check digit is recomputed so the numbers pass validation."""
from __future__ import annotations

RESIDENT = dict(card_type="resident", name="张三", gender="male", nation="壮",
                birth="1985-03-07", address="广西南宁市青秀区民族大道100号",
                id_number="450103198503070030", issuer="南宁市公安局青秀分局",
                valid_from="2015-06-01", valid_to="2035-06-01")
RESIDENT_LONG_TERM = dict(card_type="resident", name="李秀英", gender="female", nation="汉",
                          birth="1949-12-31", address="北京市朝阳区某某路1号",
                          id_number="11010519491231002X", issuer="北京市公安局朝阳分局",
                          valid_from="2010-01-01", valid_to="long-term")
HMT = dict(card_type="hmt_residence", name="陈大文", gender="male", birth="1990-01-01",
           address="广东省深圳市福田区福华路8号", id_number="810000199001010019",
           issuer="深圳市公安局", valid_from="2019-01-01", valid_to="2029-01-01",
           travel_permit="H12345678", issue_count="01")
FOREIGN = dict(card_type="foreign_permanent", name_en="SMITH, JOHN", name="史密斯",
               gender="male", id_number="USA110085012345", nationality="USA",
               birth="1985-01-01", valid_from="2017-05-01", valid_to="2027-05-01",
               card_version="17", issuer="1500")
FOREIGN_2023 = dict(card_type="foreign_permanent_2023", name="阿卜杜拉", gender="male",
                    renewal_count="00", birth="1985-01-01",
                    name_en="ABDULLAH BIN ABDULAZIZ AL SAUD ALHAMADI OMAR",
                    id_number="932682198501010017", valid_from="2023-12-01",
                    valid_to="2033-12-01", nationality="SAU")
ALL_CARDS = [RESIDENT, RESIDENT_LONG_TERM, HMT, FOREIGN, FOREIGN_2023]
