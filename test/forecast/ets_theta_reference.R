# test/forecast/ets_theta_reference.R: R's forecast package (Debian
# r-cran-forecast) as the reference of test/forecast/ets_theta_r_check.py.
#
#   Rscript ets_theta_reference.R series OUT      writes the series of R's
#       datasets the check uses, one line each: name, frequency, values
#   Rscript ets_theta_reference.R cases IN OUT    for each case line of IN
#       (id, series, kind, spec, h, then for ETS crm's parameters and initial
#       states) writes R's results, one line per value list: id, key, values
#
# ETS cases give R's own fit (ets with that model) and R's likelihood and
# forecasts at crm's estimate (ets(model = <crm's parameters>,
# use.initial.values = TRUE)), so the recursions are compared exactly and
# the optimisers separately.  Theta cases give thetaf's model and forecasts.
suppressMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
series <- list(AirPassengers = AirPassengers, co2 = co2, nottem = nottem, USAccDeaths = USAccDeaths,
               UKDriverDeaths = UKDriverDeaths, ldeaths = ldeaths, Nile = Nile, WWWusage = WWWusage,
               LakeHuron = LakeHuron, JohnsonJohnson = JohnsonJohnson, UKgas = UKgas)
num <- function(x) paste(format(as.numeric(x), digits = 17), collapse = " ")

if (args[1] == "series") {
  out <- file(args[2], "w")
  for (name in names(series)) {
    writeLines(paste(name, frequency(series[[name]]), num(series[[name]]), sep = "\t"), out)
  }
  close(out)
} else {
  lines <- readLines(args[2])
  out <- file(args[3], "w")
  put <- function(id, key, values) writeLines(paste(id, key, num(values), sep = "\t"), out)
  for (line in lines) {
    f <- strsplit(line, "\t")[[1]]
    id <- f[1]; x <- series[[f[2]]]; kind <- f[3]; spec <- f[4]; h <- as.integer(f[5])
    if (kind == "theta") {
      th <- thetaf(x, h = h, level = 95)
      put(id, "alpha", th$model$alpha)
      put(id, "drift", th$model$drift)
      put(id, "sigma2", th$model$sigma)
      put(id, "mean", th$mean)
      put(id, "lower", th$lower)
      put(id, "upper", th$upper)
      next
    }
    damped <- grepl("d", spec)
    model <- sub("d", "", spec)
    fit <- if (model == "ZZZ") ets(x) else ets(x, model = model, damped = damped)
    fc <- forecast(fit, h = h, level = 95, PI = TRUE)
    put(id, "method", sprintf("%d", match(fit$method, fit$method)))
    writeLines(paste(id, "name", fit$method, sep = "\t"), out)
    put(id, "loglik", fit$loglik)
    put(id, "n", length(x))
    put(id, "mean", fc$mean)
    if (model == "ZZZ") next
    # R's likelihood and forecasts at crm's parameters and initial states
    par <- as.numeric(strsplit(f[6], " ")[[1]])
    init <- as.numeric(strsplit(f[7], " ")[[1]])
    names(par) <- c("alpha", "beta", "gamma", "phi")
    fixed <- fit
    fixed$par["alpha"] <- par["alpha"]
    if (!is.na(fit$par["beta"])) fixed$par["beta"] <- par["beta"]
    if (!is.na(fit$par["gamma"])) fixed$par["gamma"] <- par["gamma"]
    if (!is.na(fit$par["phi"])) fixed$par["phi"] <- par["phi"]
    fixed$initstate[] <- init
    at <- ets(x, model = fixed, use.initial.values = TRUE)
    fa <- forecast(at, h = h, level = 95, PI = TRUE)
    put(id, "at_loglik", at$loglik)
    put(id, "at_sigma2", at$sigma2)
    put(id, "at_mean", fa$mean)
    put(id, "at_lower", fa$lower)
    put(id, "at_upper", fa$upper)
  }
  close(out)
}
