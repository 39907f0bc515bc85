# Profiles bundle settings; nodes list the profiles they use. Merge rules:
# included profiles first, in order, then the profile itself, then the node;
# a later value wins. Maps (tags) merge key by key; lists (kernel_args,
# overlays) replace the earlier list as a whole.

profile "compute" {
  image            = image.rocky9
  network          = network.compute
  kernel_args      = local.base_args
  system_overlays  = [overlay.site]
  runtime_overlays = [overlay.hosts, overlay.hostname]
  tags             = { role = "compute", partition = "batch" }
}

# A GPU node is a compute node with another image, the GPU overlay and two
# more kernel arguments. Lists replace, so kernel_args and system_overlays
# repeat what compute has.
profile "gpu" {
  profiles        = [profile.compute]
  image           = image.rocky9_cuda
  kernel_args     = concat(local.base_args, ["rd.driver.blacklist=nouveau", "nvidia-drm.modeset=1"])
  system_overlays = [overlay.site, overlay.gpu]
  tags            = { role = "gpu", partition = "gpu" }
}

profile "login" {
  profiles         = [profile.compute]
  image            = image.rocky9_login
  network          = network.service
  runtime_overlays = [overlay.hosts, overlay.hostname, overlay.login]
  tags             = { role = "login", partition = "none" }
}
