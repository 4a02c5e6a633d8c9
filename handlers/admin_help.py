"""The staff's command list (shown by /help to linked admins).

Every command a staff member can use is here: the staff-only ones, /adminlogout, /help and
/cancel (tests/test_help_commands.py checks it against the handlers actually registered).
"""

ADMIN_HELP = (
    "<b>Staff commands</b>\n"
    "/customers [text] — list or search customers\n"
    "/customer &lt;meter&gt; — one customer's details\n"
    "/addcustomer — add a customer (admin role)\n"
    "/editcustomer &lt;meter&gt; — change a customer's details (admin role)\n"
    "/newbill — issue a bill (admin role)\n"
    "/editbill &lt;bill_id&gt; — correct a bill (admin role)\n"
    "/bills [owed|unpaid|partial|paid|all] [YYYY-MM] — list bills; owed (the default) is "
    "unpaid and part-paid, unpaid is nothing paid yet\n"
    "/pending &lt;meter&gt; — a customer's open bills\n"
    "/payments [YYYY-MM|meter] — list payments\n"
    "/recordpayment — record an office payment (admin role)\n"
    "/voidpayment &lt;payment_id&gt; — void a payment (admin role)\n"
    "/waive &lt;bill_id&gt; — waive a bill's late fee, with a reason (admin role)\n"
    "/claims — transfer claims to confirm or reject (admin role decides)\n"
    "/refunds — card refunds owed at the provider; mark them made (admin role)\n"
    "/refundcredit &lt;meter&gt; — pay a customer's account credit back (admin role)\n"
    "/reconcile [YYYY-MM] — money in by day and channel, with a CSV\n"
    "/revenue [YYYY-MM [YYYY-MM]] — revenue report\n"
    "/outstanding — what is owed, with ageing\n"
    "/trend [months] — monthly usage trend and chart\n"
    "/importbills — bills from a CSV file (admin role)\n"
    "/tariffs — the tariffs and the version of each in force\n"
    "/tariff &lt;code&gt; — a tariff's bands, charges, late fee and history\n"
    "/newtariff — add a tariff version, or a new tariff (admin role)\n"
    "/settariff &lt;meter&gt; &lt;code|flat&gt; — put a customer on a tariff (admin role)\n"
    "/audit [meter|bill_id] — the audit log\n"
    "/notify on|off — be told of payments, and of report totals the daily check repaired\n"
    "/adminlogout — log out of the staff account\n"
    "/help — this list\n"
    "/cancel — stop what you are doing"
)
