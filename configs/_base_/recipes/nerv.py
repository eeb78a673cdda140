# NeRV's recipe (the NeRV paper; the D-NeRV paper's UCF101 baseline): the one home of these
# numbers for every task that fits NeRV networks. configs/compress/nerv.py and
# configs/inpaint/default.py build their codec and fit from `_base_.recipe_nerv.codec` and
# `.fit`, adding what their task sets (bits or widths, epochs, batch size). The `recipe_`
# name keeps it apart from the other recipes a config inherits (mmengine refuses a key that
# two bases share); the tools never read it (load_config drops `recipe_*` keys).
recipe_nerv = dict(
    codec=dict(type='nerv', network=dict(pe_levels=80, mlp_hidden=512)),
    fit=dict(warmup_ratio=0.2, amp='bfloat16',
             optimizer=dict(type='Adam', lr=5e-4, betas=(0.5, 0.999)),
             model=dict(loss=dict(l1=0.7, ssim=0.3))))
