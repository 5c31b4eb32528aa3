"""airmap:simulate — run the pollution simulator and write a scenario: true fields, coarse and
satellite-like products, and a station network, ready to feed the other algorithms."""
import csv
import os

from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsFeature, QgsField, QgsFields,
                       QgsGeometry, QgsPointXY, QgsProcessingContext, QgsProcessingOutputRasterLayer,
                       QgsProcessingOutputVectorLayer, QgsProcessingParameterExtent,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsVectorFileWriter, QgsVectorLayer)

from ..core.errors import AirmapInputError
from ..core.grid import Grid
from ..provider.algorithm import AirmapAlgorithm
from ..provider.compat import (FIELD_DOUBLE, FIELD_INT, FIELD_STRING, FLAG_ADVANCED, NUMBER_DOUBLE, NUMBER_INTEGER,
                               SOURCE_POINT)
from ..provider.layers import crs_string, read_raster_layer
from ..provider.parameters import DEFAULT_UNITS
from ..provider.styling import style_on_load

DEFAULT_CELLS = 256
DEFAULT_PIXEL = 5000.0


class SimulateAlgorithm(AirmapAlgorithm):
    ALG_ID = "simulate"
    DISPLAY_NAME = "Simulate a pollution scenario"
    GROUP_ID = "data"
    HELP = (
        "Runs airmap's own transport model of surface PM2.5 (hourly; emissions from urban land, "
        "roads and point sources, humidity-driven secondary formation, wind slowed and turned by "
        "terrain, a diurnal boundary layer, dry and wet removal, regional background) and writes "
        "a scenario with known truth to OUTPUT_FOLDER: pm25_hourly.tif, pm25_daily.tif, "
        "pm25_coarse_3h.tif (3 x 3 block means every 3 hours, CAMS-like), "
        "pm25_satellite_daily.tif (cloud gaps), rh_hourly.tif, wind_speed_hourly.tif, u_hourly.tif, "
        "v_hourly.tif, dem.tif, urban.tif (band descriptions are the times), and stations.gpkg / "
        "stations.csv (a network clustered in cities; field pm25 = day 1, pm25_YYYYMMDD = each "
        "day).\n\nWithout DEM and URBAN the terrain and cities are generated; with them, the "
        "simulation uses their grid (it must be projected, in metres) and EXTENT / PIXEL_SIZE are "
        "ignored. Without EXTENT the domain is 256 x 256 cells of PIXEL_SIZE in a local "
        "projection; a geographic EXTENT is simulated in a local equal-area projection centred on "
        "it. The same SEED gives the same files.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterExtent(
            "EXTENT", self.tr("Extent (default: 256 x 256 cells of PIXEL_SIZE)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "PIXEL_SIZE", self.tr("Pixel size (m)"), NUMBER_DOUBLE,
            defaultValue=DEFAULT_PIXEL, minValue=200.0, maxValue=100000.0))
        self.addParameter(QgsProcessingParameterNumber(
            "DAYS", self.tr("Days to simulate"), NUMBER_INTEGER,
            defaultValue=7, minValue=1, maxValue=366))
        self.addParameter(QgsProcessingParameterNumber(
            "SEED", self.tr("Random seed"), NUMBER_INTEGER,
            defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "DEM", self.tr("Terrain (DEM, m; generated if empty)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "URBAN", self.tr("Urban fraction 0-1 or % (generated if empty)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "N_STATIONS", self.tr("Number of stations"), NUMBER_INTEGER,
            defaultValue=120, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            "NOISE", self.tr("Station measurement noise (fraction of the value, e.g. 0.05 = 5 %)"),
            NUMBER_DOUBLE, defaultValue=0.05, minValue=0.0, maxValue=1.0))
        cloud = QgsProcessingParameterNumber(
            "CLOUD_FRACTION", self.tr("Cloud-covered share of the satellite product"),
            NUMBER_DOUBLE, defaultValue=0.3, minValue=0.0, maxValue=0.95)
        cloud.setFlags(cloud.flags() | FLAG_ADVANCED)
        self.addParameter(cloud)
        self.addParameter(QgsProcessingParameterFolderDestination(
            "OUTPUT_FOLDER", self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputRasterLayer("PM25_DAILY", self.tr("Daily PM2.5 (truth)")))
        self.addOutput(QgsProcessingOutputRasterLayer("PM25_HOURLY", self.tr("Hourly PM2.5 (truth)")))
        self.addOutput(QgsProcessingOutputRasterLayer("PM25_COARSE", self.tr("Coarse 3-hourly PM2.5")))
        self.addOutput(QgsProcessingOutputRasterLayer("PM25_SATELLITE", self.tr("Satellite-like PM2.5 with gaps")))
        self.addOutput(QgsProcessingOutputRasterLayer("DEM_OUTPUT", self.tr("Terrain")))
        self.addOutput(QgsProcessingOutputRasterLayer("URBAN_OUTPUT", self.tr("Urban fraction")))
        self.addOutput(QgsProcessingOutputVectorLayer("STATIONS", self.tr("Stations"),
                                                      SOURCE_POINT))

    # ----------------------------------------------------------------------------------------
    def process(self, parameters, context, feedback):
        from ..core.simulate import run_scenario  # SciPy and rasterio: see provider/__init__.py

        progress = self.progress(feedback)
        grid, dem, urban, inputs = self._grid_and_surface(parameters, context, feedback)
        days = self.parameterAsInt(parameters, "DAYS", context)
        seed = self.parameterAsInt(parameters, "SEED", context)
        feedback.pushInfo(f"Simulating {days} days on {grid.width} x {grid.height} cells of "
                          f"{grid.res[0]:g} m (seed {seed}).")
        scenario = run_scenario(days=days, seed=seed, grid=grid, dem=dem, urban=urban,
                                progress=progress.sub(0.0, 0.8))
        folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        os.makedirs(folder, exist_ok=True)
        paths = scenario.write(
            folder, n_stations=self.parameterAsInt(parameters, "N_STATIONS", context),
            noise=self.parameterAsDouble(parameters, "NOISE", context), station_seed=seed,
            cloud_fraction=self.parameterAsDouble(parameters, "CLOUD_FRACTION", context),
            written=self._written, progress=progress.sub(0.8, 0.97), protect=inputs)
        gpkg = os.path.join(folder, "stations.gpkg")
        self._written.append(gpkg)
        self._write_geopackage(paths["stations"], gpkg, grid.crs, context)
        b = scenario.budget
        feedback.pushInfo(f"Domain-mean daily PM2.5 {scenario.pm25_daily.mean():.1f} µg/m³; "
                          f"mass budget residual {abs(b['residual_pm']) / max(b['emission_pm'], 1):.2e} "
                          "of the emitted mass.")
        self._load_on_completion(context, paths["pm25_daily"], gpkg, seed)
        progress.set(1.0)
        return {"OUTPUT_FOLDER": folder, "PM25_DAILY": paths["pm25_daily"],
                "PM25_HOURLY": paths["pm25_hourly"], "PM25_COARSE": paths["pm25_coarse_3h"],
                "PM25_SATELLITE": paths["pm25_satellite_daily"], "DEM_OUTPUT": paths["dem"],
                "URBAN_OUTPUT": paths["urban"], "STATIONS": gpkg}

    @staticmethod
    def _load_on_completion(context, truth_path, stations_path, seed):
        """From the toolbox, the daily truth (day 1 styled) and the stations go into the map."""
        truth = QgsProcessingContext.LayerDetails(f"simulated PM2.5 seed {seed} daily truth [{DEFAULT_UNITS}]",
                                                  context.project(), "PM25_DAILY")
        context.addLayerToLoadOnCompletion(truth_path, truth)
        style_on_load(context, truth_path, truth.name, units=DEFAULT_UNITS)
        context.addLayerToLoadOnCompletion(stations_path, QgsProcessingContext.LayerDetails(
            f"simulated stations seed {seed}", context.project(), "STATIONS"))

    def _grid_and_surface(self, parameters, context, feedback):
        """The simulation grid and optional DEM / urban arrays on it (see HELP)."""
        from ..core.evaluate import resample_to
        from ..core.simulate import generated_grid

        dem_layer = self.parameterAsRasterLayer(parameters, "DEM", context) if parameters.get("DEM") else None
        urban_layer = self.parameterAsRasterLayer(parameters, "URBAN", context) if parameters.get("URBAN") else None
        inputs = [layer.source() for layer in (dem_layer, urban_layer) if layer is not None]
        dem = urban = None
        if dem_layer is not None or urban_layer is not None:
            if parameters.get("EXTENT"):
                feedback.pushInfo("DEM/URBAN given: the simulation uses their grid; EXTENT and "
                                  "PIXEL_SIZE are ignored.")
            first = read_raster_layer(dem_layer or urban_layer, feedback)
            grid = first.grid
            if dem_layer is not None:
                dem = first.data[0]
            if urban_layer is not None:
                raster = first if dem_layer is None else read_raster_layer(urban_layer, feedback)
                urban = raster.data[0] if raster.grid == grid else resample_to(raster, grid)[0]
            return grid, dem, urban, inputs
        pixel = self.parameterAsDouble(parameters, "PIXEL_SIZE", context)
        if not parameters.get("EXTENT"):
            return generated_grid(DEFAULT_CELLS, pixel), None, None, inputs
        rect = self.parameterAsExtent(parameters, "EXTENT", context)
        crs = self.parameterAsExtentCrs(parameters, "EXTENT", context)
        if not crs.isValid() or crs.isGeographic():
            if not crs.isValid():
                crs = QgsCoordinateReferenceSystem("EPSG:4326")
            centre = rect.center()
            local = QgsCoordinateReferenceSystem.fromProj(
                f"+proj=laea +lat_0={centre.y():.6f} +lon_0={centre.x():.6f} +x_0=0 +y_0=0 "
                "+datum=WGS84 +units=m +no_defs")
            rect = QgsCoordinateTransform(crs, local, context.transformContext()).transformBoundingBox(rect)
            feedback.pushInfo("The EXTENT is in degrees: simulating in a local Lambert azimuthal "
                              "equal-area projection centred on it (metres).")
            crs = local
        if rect.isEmpty():
            raise AirmapInputError("The EXTENT is empty: choose an area with a width and a height.")
        grid = Grid.from_extent(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(),
                                pixel, crs_string(crs))
        return grid, None, None, inputs

    def _write_geopackage(self, csv_path, gpkg_path, crs_text, context):
        """The station CSV written by core -> a point GeoPackage in the grid's CRS."""
        with open(csv_path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        fields = QgsFields()
        for name in rows[0]:
            if name in ("x", "y"):
                continue
            kind = FIELD_STRING if name == "site_id" else (FIELD_INT if name == "group" else FIELD_DOUBLE)
            fields.append(QgsField(name, kind))
        crs = QgsCoordinateReferenceSystem.fromWkt(crs_text) if crs_text.startswith(("PROJCS", "PROJCRS", "GEOG")) \
            else QgsCoordinateReferenceSystem(crs_text)
        layer = QgsVectorLayer(f"Point?crs={crs.authid() or 'EPSG:4326'}", "stations", "memory")
        layer.setCrs(crs)
        provider = layer.dataProvider()
        provider.addAttributes(fields.toList())
        layer.updateFields()
        features = []
        for row in rows:
            f = QgsFeature(layer.fields())
            f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(float(row["x"]), float(row["y"]))))
            f.setAttributes([row[n] if n == "site_id" else (int(row[n]) if n == "group" else float(row[n]))
                             for n in fields.names()])
            features.append(f)
        provider.addFeatures(features)
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        options.layerName = "stations"
        if os.path.exists(gpkg_path):
            os.remove(gpkg_path)
        result = QgsVectorFileWriter.writeAsVectorFormatV3(layer, gpkg_path, context.transformContext(), options)
        if result[0] != QgsVectorFileWriter.WriterError.NoError:
            raise AirmapInputError(f"Could not write {gpkg_path}: {result[1]}. Choose a writable OUTPUT_FOLDER.")
