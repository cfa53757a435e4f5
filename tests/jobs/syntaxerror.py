from mrargo import MapReduce

class Broken(MapReduce)
    pass
